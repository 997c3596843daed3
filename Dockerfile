# Image for the web, worker and beat processes (docker-compose.yml). Configuration comes only from
# environment variables (README.md, "Configuration"); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 1000 app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# var/ holds state generated at first start (the OIDC signing key when none is configured).
RUN mkdir -p /app/var && chown app:app /app/var
USER app

EXPOSE 8000
CMD ["python", "-m", "backend.serve", "--host", "0.0.0.0", "--port", "8000"]
