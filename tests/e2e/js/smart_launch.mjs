// A standalone SMART patient launch driven by the npm `fhirclient` library (Node adapter), with the
// login and consent HTML forms posted as a headless browser would. Prints a JSON summary.
// Environment: FHIR_BASE, CLIENT_ID, USERNAME, PASSWORD, REDIRECT_URI, SCOPE.
import smart from "fhirclient";

const env = process.env;
const APP_HOST = new URL(env.REDIRECT_URI).host;
const memory = new Map();
const storage = {
  get: async (key) => memory.get(key),
  set: async (key, value) => { memory.set(key, value); return value; },
  unset: async (key) => memory.delete(key),
};

function appRequest(url) {
  return { url, headers: { host: APP_HOST }, socket: {} };
}

function appResponse() {
  return { location: "", writeHead(status, headers) { this.location = headers.location; }, end() {} };
}

const jar = new Map();
async function go(url, options = {}) {
  const headers = { ...(options.headers || {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") };
  const response = await fetch(url, { ...options, headers, redirect: "manual" });
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(";")[0];
    jar.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1));
  }
  return response;
}

const unescape = (text) => text.replaceAll("&quot;", '"').replaceAll("&#x27;", "'")
  .replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");

function formOf(html) {
  const form = new URLSearchParams();
  for (const tag of html.match(/<input[^>]*>/g) || []) {
    const name = tag.match(/name="([^"]+)"/);
    const value = tag.match(/value="([^"]*)"/);
    if (name && (tag.includes('type="hidden"') || tag.includes('type="checkbox"'))) {
      form.append(name[1], value ? unescape(value[1]) : "");
    }
  }
  return form;
}

async function post(url, form) {
  return go(url, { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded" } });
}

async function signInAndApprove(authorizeUrl) {
  let response = await go(authorizeUrl);
  const loginUrl = new URL(response.headers.get("location"), authorizeUrl).href;
  const login = formOf(await (await go(loginUrl)).text());
  login.set("username", env.USERNAME);
  login.set("password", env.PASSWORD);
  response = await post(loginUrl, login);
  const consentUrl = new URL(response.headers.get("location"), loginUrl).href;
  const consent = formOf(await (await go(consentUrl)).text());
  consent.set("allow", "on");
  response = await post(consentUrl, consent);
  return response.headers.get("location");
}

const start = appResponse();
await smart(appRequest("/launch"), start, storage).authorize({
  iss: env.FHIR_BASE, clientId: env.CLIENT_ID, scope: env.SCOPE, redirectUri: env.REDIRECT_URI,
  pkceMode: "required",
});
const callback = new URL(await signInAndApprove(start.location));
const client = await smart(appRequest(callback.pathname + callback.search), appResponse(), storage).ready();
const patient = await client.patient.read();
const pages = await client.request(`Observation?subject=Patient/${client.patient.id}&_count=2`, { pageLimit: 0 });
const bundles = Array.isArray(pages) ? pages : [pages];
console.log(JSON.stringify({
  patient: client.patient.id,
  family: patient.name[0].family,
  pages: bundles.length,
  values: bundles.flatMap((b) => (b.entry || []).map((e) => e.resource.valueQuantity.value)).sort(),
  pkce: start.location.includes("code_challenge_method=S256"),
}));
