// An OpenID-certified authorization server (oidc-provider) for tests/interop.rs.
//
//   node provider.mjs <config.json>
//
// Listens on 127.0.0.1 only, prints `READY http://127.0.0.1:PORT` (the issuer) on stdout once it
// accepts requests, and exits on SIGTERM, SIGINT or when its stdin closes (the test that started
// it has gone). Everything it must remember across a restart on the same port (signing keys,
// client keys, issued opaque tokens) lives in `state_dir`, so that a restart behaves like a
// provider that was merely unreachable for a while.
//
// The configuration (written by the Rust test):
//
// {
//   "port": 0,                           // 0 picks a free port; a restart passes the port it got
//   "state_dir": "/tmp/...",             // keys.json and store.json are kept here
//   "signing_keys": [                    // the published JWKS, in this order; for each `alg`
//     {"kid": "rsa-2", "kty": "RSA"},    // the first key that suits it signs (so a new key
//     {"kid": "rsa-1", "kty": "RSA"},    // listed first takes over while the old one stays
//     {"kid": "ec-1", "kty": "EC"},      // published); a kid seen before reuses its key
//     {"kid": "ed-1", "kty": "OKP"}
//   ],
//   "resources": {                       // RFC 8707 resource indicators
//     "https://rs256.api.test": {"audience": "rs256-api", "format": "jwt", "alg": "RS256",
//                                "scope": "read write", "ttl": 300},
//     "https://opaque.api.test": {"audience": "opaque-api", "format": "opaque", "ttl": 2}
//   },
//   "clients": [
//     {"client_id": "daemon", "client_secret": "s3cret", "auth": "client_secret_basic",
//      "extra_claims": {"roles": ["admin"]}},
//     {"client_id": "api", "auth": "private_key_jwt", "key_file": "api-key.json"},
//     {"client_id": "web", "client_secret": "s3cret", "auth": "client_secret_basic",
//      "redirect_uri": "http://127.0.0.1:8081/callback",                // a login client
//      "backchannel_logout_uri": "http://127.0.0.1:8081/backchannel-logout",
//      "access_token_sid": true}
//   ],
//   "dpop_nonce": false,                 // true: DPoP proofs need a server nonce (RFC 9449 §8)
//   "jwt_bearer": {                      // the RFC 7523 grant with ZITADEL service-account keys
//     "resource": "https://rs256.api.test",            // the tokens' resource server
//     "service_accounts": [{"user_id": "sa-1", "key_file": "sa-1.json"}]
//   }
// }
//
// A client with a `redirect_uri` logs users in (authorization code flow, `openid` scope, PKCE
// optional for a confidential client) through oidc-provider's `devInteractions` (on only when
// such a client exists): `GET /auth?...` leads to a login form at `/interaction/:uid` that
// accepts any `login` as the account id (no password), then a consent form; the access token
// of a `resource` asked for in the authorization request is a JWT for it. oidc-provider puts no
// `sid` in access tokens; with `access_token_sid` the client's carry the session's `sid`
// (added through extraTokenClaims, as Keycloak and Entra put it in theirs). With a `backchannel_logout_uri` (OpenID Connect Back-Channel Logout
// 1.0, `backchannelLogout` feature, `backchannel_logout_session_required: true`), an
// RP-initiated logout (`/session/end` then its confirm form) makes oidc-provider POST a logout
// token there. oidc-provider refuses to send requests to special-use addresses (loopback
// included, against SSRF): its `fetch` hook lets exactly the registered logout URIs through.
// `GET /_interop/backchannel` answers the deliveries oidc-provider reported
// (`[{"client_id", "sub", "sid", "ok", "error"}]`, from its `backchannel.success` and
// `backchannel.error` events: ok means our endpoint answered 200 or 204).
//
// DPoP (RFC 9449, oidc-provider's `dPoP` feature) is on: a token request with a `DPoP` proof
// gets a DPoP-bound token (`token_type: DPoP`, `cnf.jkt` in a JWT and in introspection).
//
// oidc-provider does not ship the JWT-bearer grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`);
// it is registered here as ZITADEL runs it: no client authentication, an RS256 `assertion` signed
// with a service account's key (`kid` = the key id, `iss` = `sub` = the user id, `aud` = the
// issuer or the token endpoint, `exp` within the hour). Each service account gets a key file
// `{"type":"serviceaccount","keyId","key" (PKCS#1 PEM),"userId"}` written to `key_file`; its
// tokens are JWTs for `resource` with `sub` = the user id.
//
// A `private_key_jwt` client gets an RSA key the way ZITADEL hands one out: a key file
// `{"type":"application","keyId","key" (PKCS#1 PEM),"appId","clientId"}` written to `key_file`
// (relative to `state_dir`; the key is kept across restarts); the provider registers the key's
// public JWK for the client.
// `extra_claims` go into every access token of that client, JWT or opaque (extraTokenClaims),
// and so into its introspection answers. INTEROP_DEBUG=1 logs the provider's errors to stderr.
// `GET /_interop/requests` (not part of the provider) answers how often each path was requested.

import { generateKeyPairSync, createPrivateKey, createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs <config.json>');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const debug = process.env.INTEROP_DEBUG === '1';

// --- state kept across restarts --------------------------------------------------------------

function readJson(path, fallback) {
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : fallback;
}

function writeJson(path, value) {
  // Write then rename: a provider killed mid-write never leaves half a file behind.
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 1));
  renameSync(`${path}.tmp`, path);
}

const keysPath = join(config.state_dir, 'keys.json');
const keys = readJson(keysPath, {});

/** The private JWK named `name`, generated the first time. */
function privateJwk(name, kty) {
  if (!keys[name]) {
    const pair = kty === 'RSA'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kty === 'EC'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : kty === 'OKP'
          ? generateKeyPairSync('ed25519')
          : null;
    if (!pair) throw new Error(`unknown key type ${kty} for ${name}`);
    keys[name] = pair.privateKey.export({ format: 'jwk' });
    writeJson(keysPath, keys);
  }
  return keys[name];
}

const signingKeys = config.signing_keys.map(({ kid, kty }) => ({ ...privateJwk(`signing:${kid}`, kty), kid }));

/** Registers a `private_key_jwt` client's key and writes its ZITADEL-format key file. */
function clientKey(client) {
  const jwk = privateJwk(`client:${client.client_id}`, 'RSA');
  const kid = `${client.client_id}-key`;
  const pem = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' });
  writeJson(resolve(config.state_dir, client.key_file), {
    type: 'application',
    keyId: kid,
    key: pem,
    appId: `app-${client.client_id}`,
    clientId: client.client_id,
  });
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return { ...pub, kid, use: 'sig', alg: 'RS256' };
}

/** oidc-provider's adapter interface over a JSON file: issued tokens survive a restart. */
const storePath = join(config.state_dir, 'store.json');
const store = new Map(Object.entries(readJson(storePath, {})));
const now = () => Math.floor(Date.now() / 1000);

function persist() {
  for (const [key, { expiresAt }] of store) {
    if (expiresAt && expiresAt < now()) store.delete(key);
  }
  writeJson(storePath, Object.fromEntries(store));
}

class FileAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, expiresAt: expiresIn ? now() + expiresIn : undefined });
    persist();
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry || (entry.expiresAt && entry.expiresAt < now())) return undefined;
    return entry.payload;
  }

  async findByUid(uid) {
    return [...store.values()].find((e) => e.payload.uid === uid)?.payload;
  }

  async findByUserCode(userCode) {
    return [...store.values()].find((e) => e.payload.userCode === userCode)?.payload;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) {
      entry.payload.consumed = now();
      persist();
    }
  }

  async destroy(id) {
    store.delete(this.key(id));
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const [key, { payload }] of store) {
      if (payload.grantId === grantId) store.delete(key);
    }
    persist();
  }
}

// --- the RFC 7523 JWT-bearer grant with ZITADEL service-account keys -----------------------------

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The public client the JWT-bearer requests are attributed to (they carry no client auth). */
const JWT_BEARER_CLIENT = 'zitadel-jwt-bearer';
const serviceAccounts = new Map(); // keyId -> {userId, publicKey}

for (const account of config.jwt_bearer?.service_accounts ?? []) {
  const jwk = privateJwk(`serviceaccount:${account.user_id}`, 'RSA');
  const keyId = `${account.user_id}-key`;
  const pem = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' });
  writeJson(resolve(config.state_dir, account.key_file), {
    type: 'serviceaccount', keyId, key: pem, userId: account.user_id,
  });
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  serviceAccounts.set(keyId, { userId: account.user_id, publicKey: createPublicKey({ key: pub, format: 'jwk' }) });
}

/** The service account's user id if `assertion` is a valid RS256 assertion of its key. */
function serviceAccountOf(assertion, audiences) {
  const refuse = (why) => { throw new errors.InvalidGrant(why); };
  const parts = String(assertion ?? '').split('.');
  if (parts.length !== 3) refuse('the assertion is not a JWT');
  let header;
  let claims;
  try {
    [header, claims] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  } catch {
    refuse('the assertion is not a JWT');
  }
  if (header.alg !== 'RS256') refuse('the assertion must be RS256');
  const account = serviceAccounts.get(header.kid);
  if (!account) refuse('unknown key id');
  const signed = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), account.publicKey, Buffer.from(parts[2], 'base64url'));
  if (!signed) refuse('bad signature');
  if (claims.iss !== account.userId || claims.sub !== account.userId) refuse('iss and sub must be the user id');
  const aud = [claims.aud].flat();
  if (!aud.some((a) => audiences.includes(a))) refuse('aud must be the issuer');
  if (!(claims.exp > now() && claims.exp <= now() + 3600)) refuse('exp must be within the hour');
  if (typeof claims.iat === 'number' && claims.iat > now() + 60) refuse('iat is in the future');
  return account.userId;
}

/** The service account of a token issued by the grant, for its JWT's `sub`. */
const serviceAccountOfToken = new WeakMap();

function registerJwtBearer(provider, issuer) {
  provider.registerGrantType(JWT_BEARER, async (ctx) => {
    const { params, client } = ctx.oidc;
    const userId = serviceAccountOf(params.assertion, [issuer, `${issuer}/token`]);
    const { resource } = config.jwt_bearer;
    const info = await getResourceServerInfo(ctx, resource);
    const token = new provider.ClientCredentials({ client, scope: params.scope || undefined });
    token.resourceServer = new provider.ResourceServer(resource, info);
    serviceAccountOfToken.set(token, userId);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: token.scope,
    };
  }, ['assertion', 'scope']);
}

/**
 * ZITADEL's JWT-bearer requests carry no client authentication, which oidc-provider's token
 * endpoint requires: such a request is attributed to the public client JWT_BEARER_CLIENT (read
 * here, handed to the provider as an already-parsed body).
 */
async function attributeJwtBearer(req) {
  if (req.method !== 'POST') return;
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = new URLSearchParams(Buffer.concat(chunks).toString());
  if (body.get('grant_type') === JWT_BEARER && !body.has('client_id') && !req.headers.authorization) {
    body.set('client_id', JWT_BEARER_CLIENT);
  }
  req.body = body.toString();
}

// --- the provider ------------------------------------------------------------------------------

const clientsById = new Map(config.clients.map((c) => [c.client_id, c]));

const clients = config.clients.map((client) => {
  const metadata = {
    client_id: client.client_id,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: client.auth,
  };
  if (client.redirect_uri) {
    metadata.grant_types = ['authorization_code'];
    metadata.response_types = ['code'];
    metadata.redirect_uris = [client.redirect_uri];
  }
  if (client.backchannel_logout_uri) {
    metadata.backchannel_logout_uri = client.backchannel_logout_uri;
    metadata.backchannel_logout_session_required = true;
  }
  if (client.auth === 'private_key_jwt') {
    metadata.jwks = { keys: [clientKey(client)] };
  } else {
    metadata.client_secret = client.client_secret;
  }
  return metadata;
});
if (config.jwt_bearer) {
  clients.push({
    client_id: JWT_BEARER_CLIENT,
    grant_types: [JWT_BEARER],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'none',
  });
}

const logsIn = config.clients.some((c) => c.redirect_uri);
/** The registered back-channel logout URIs: the only special-use addresses fetched. */
const logoutUris = new Set(config.clients
  .filter((c) => c.backchannel_logout_uri)
  .map((c) => new URL(c.backchannel_logout_uri).href));

/**
 * oidc-provider's outgoing requests go through a dispatcher that drops connections to
 * special-use addresses (127.0.0.1 among them); our receivers listen on 127.0.0.1, so a
 * request to a registered logout URI goes without it. Every other request keeps the guard.
 */
function fetchHook(url, options) {
  if (logoutUris.has(new URL(url).href)) {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  }
  return globalThis.fetch(url, options);
}

/** The back-channel logout deliveries oidc-provider reported, for `/_interop/backchannel`. */
const deliveries = [];

async function getResourceServerInfo(ctx, resourceIndicator) {
  const resource = config.resources[resourceIndicator];
  if (!resource) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
  const info = {
    audience: resource.audience,
    scope: resource.scope ?? '',
    accessTokenTTL: resource.ttl ?? 300,
    accessTokenFormat: resource.format,
  };
  if (resource.format === 'jwt') info.jwt = { sign: { alg: resource.alg } };
  return info;
}

const server = createServer();
server.listen(config.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    adapter: FileAdapter,
    clients,
    jwks: { keys: signingKeys },
    features: {
      devInteractions: { enabled: logsIn },
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: true },
      dPoP: config.dpop_nonce
        ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
        : { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo,
      },
    },
    extraTokenClaims: async (ctx, token) => {
      const client = clientsById.get(token.clientId);
      // The session of a user's access token (authorization code flow), as `sid`.
      return client?.access_token_sid && token.sid
        ? { ...client.extra_claims, sid: token.sid }
        : client?.extra_claims;
    },
    fetch: fetchHook,
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300 },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => {
          const userId = serviceAccountOfToken.get(token);
          if (userId) jwt.payload.sub = userId;
        },
      },
    },
  });
  if (config.jwt_bearer) registerJwtBearer(provider, issuer);
  provider.on('backchannel.success', (ctx, client, sub, sid) => {
    deliveries.push({ client_id: client.clientId, sub, sid, ok: true });
  });
  provider.on('backchannel.error', (ctx, error, client, sub, sid) => {
    deliveries.push({ client_id: client.clientId, sub, sid, ok: false, error: String(error?.cause ?? error) });
    if (debug) console.error('backchannel.error:', error);
  });
  if (debug) {
    for (const event of ['server_error', 'grant.error', 'end_session.error', 'authorization.error', 'introspection.error', 'revocation.error', 'discovery.error', 'jwks.error']) {
      provider.on(event, (...args) => console.error(`${event}:`, args.at(-1)));
    }
  }
  // Counts the requests per path, for the test to see what the library asked for (a JWKS
  // refetch, say); `GET /_interop/requests` answers the counts since this process started.
  const counts = {};
  const callback = provider.callback();
  const tokenPath = new URL(provider.urlFor('token')).pathname;
  server.on('request', async (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    if (path === '/_interop/requests') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(counts));
      return;
    }
    if (path === '/_interop/backchannel') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(deliveries));
      return;
    }
    counts[path] = (counts[path] ?? 0) + 1;
    if (config.jwt_bearer && path === tokenPath) await attributeJwtBearer(req);
    callback(req, res);
  });
  console.log(`READY ${issuer}`);
});
server.on('error', (error) => {
  console.error(`provider.mjs: cannot listen on 127.0.0.1:${config.port}: ${error.message}`);
  process.exit(1);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
