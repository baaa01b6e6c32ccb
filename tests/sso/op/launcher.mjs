// An OpenID Provider on loopback for the SSO tests, configured like Entra ID:
// one issuer per Entra tenant at /{tenant id}/v2.0, ID tokens with
// preferred_username, oid, tid and email, RS256 keys with a kid, the
// authorization code flow with PKCE S256 and client_secret_post.
//
// Reads its configuration as JSON on stdin:
//   {"tenants": [guid, ...], "client": {"client_id", "client_secret", "redirect_uris"},
//    "accounts": {"login": {"tenant": guid, "claims": {...}}},
//    "aliases": {"contoso.onmicrosoft.com": guid}}
// and prints {"port": N} on stdout once it listens on 127.0.0.1 (port 0).
// Each account signs in at the issuer of its own tenant; the dev login form
// takes the account's key as its login. A tenant is also reachable under each
// of its aliases (domain names), as Entra's is: the configuration found there
// names the tenant's GUID issuer.
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';

import Provider from 'oidc-provider';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const config = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function accountsOf(tenant) {
  return Object.fromEntries(
    Object.entries(config.accounts).filter(([, account]) => account.tenant === tenant),
  );
}

function buildProvider(issuer, tenant) {
  const accounts = accountsOf(tenant);
  const provider = new Provider(issuer, {
    clients: [{
      ...config.client,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [signingKey()] },
    scopes: ['openid', 'profile', 'email', 'offline_access', 'User.Read'],
    claims: {
      openid: ['sub'],
      // Entra puts these in the ID token for `openid profile`; email is an optional claim.
      profile: ['name', 'preferred_username', 'oid', 'tid', 'email'],
    },
    // The ID token carries the profile claims even in the code flow, as Entra's does.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    async findAccount(_ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: account.claims.oid ?? id, tid: tenant, ...account.claims };
        },
      };
    },
    // Entra issues ID tokens valid for an hour.
    ttl: { IdToken: 3600, AuthorizationCode: 600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
  });
  provider.proxy = false;
  return provider;
}

const providers = new Map();
const server = http.createServer((req, res) => {
  const prefix = [...providers.keys()].find((p) => req.url === p || req.url.startsWith(`${p}/`));
  if (!prefix) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found' }));
    return;
  }
  // Mounted like Express does it: the provider reads its mount path from
  // originalUrl and routes on the rest.
  req.originalUrl = req.url;
  req.url = req.url.slice(prefix.length) || '/';
  providers.get(prefix).callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  for (const tenant of config.tenants) {
    const issuer = `http://127.0.0.1:${port}/${tenant}/v2.0`;
    providers.set(`/${tenant}/v2.0`, buildProvider(issuer, tenant));
  }
  for (const [alias, tenant] of Object.entries(config.aliases ?? {})) {
    providers.set(`/${alias}/v2.0`, providers.get(`/${tenant}/v2.0`));
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
