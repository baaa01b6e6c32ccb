"""The identity rules of the gateway as pure functions and value types.

Nothing here imports a web framework or SQL; the store applies these rules
set-based, and the Graph sync and SCIM server call the store.
"""
