"""The read side of the search index: one module per parameter type, each turning a parsed search
value into a condition on its index table's rows (`filter_<type>`). `criteria.py` combines these
into conditions on `Resource`, adding chains, `_has`, `:not` and `:missing`.
https://hl7.org/fhir/R4/search.html
"""
