// The identity provider of the single sign-on tests: the `oidc-provider` package (a certified
// OpenID Provider) configured from provider.json, on 127.0.0.1.
//
//   node tests/oidc/provider.mjs --port PORT [--config tests/oidc/provider.json]
//
// Besides the provider's own endpoints it serves a small interaction API, so tests drive
// sign-in and consent with plain HTTP and no browser:
//   GET  /interaction/:uid          {"uid", "prompt", "client_id", "scope"}
//   POST /interaction/:uid/login    {"login": "alice", "amr": ["pwd", "mfa"]?} -> 303 onwards
//   POST /interaction/:uid/confirm  grants the requested scopes and claims  -> 303 onwards
//   POST /interaction/:uid/abort    the user refuses (access_denied)        -> 303 onwards
//   POST /__test/rotate-keys        a new signing key replaces the old one  -> {"kid"}
// Any login name is an account: sub = the name, e-mail <name>@idp.test, verified, unless
// provider.json lists the account with other claims.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    config: { type: 'string', default: new URL('./provider.json', import.meta.url).pathname },
  },
});
const port = Number(args.port);
const settings = JSON.parse(readFileSync(args.config, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

function accountClaims(login) {
  return {
    sub: login,
    email: `${login}@idp.test`,
    email_verified: true,
    name: `Test ${login}`,
    picture: `https://idp.test/avatars/${login}.png`,
    ...(settings.accounts[login] || {}),
  };
}

const idTokenTtl = new Map(settings.clients.map((c) => [c.client_id, c.id_token_ttl_seconds]));
const tokenDelay = new Map(settings.clients.map((c) => [c.client_id, c.token_response_delay_ms]));

// A token response held back after it was made: its ID token is already expired on arrival
// when the client's ID tokens live shorter than the delay.
function delayTokenResponse(req, res) {
  const basic = /^Basic (.+)$/.exec(req.headers.authorization || '');
  const clientId = basic ? decodeURIComponent(Buffer.from(basic[1], 'base64').toString().split(':')[0]) : null;
  const delay = tokenDelay.get(clientId);
  if (!delay) return;
  const end = res.end.bind(res);
  res.end = (...args) => { setTimeout(() => end(...args), delay); return res; };
}

function build(keys) {
  const provider = new Provider(issuer, {
    clients: settings.clients.map(({ id_token_ttl_seconds: _ttl, token_response_delay_ms: _d, ...client }) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    })),
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => accountClaims(id),
    }),
    claims: {
      // amr with openid: in every ID token, as Entra ID and others send it.
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'picture'],
      acr: null,
      auth_time: null,
      sid: null,
      iss: null,
    },
    // Scope claims in the ID token itself, as Google and Entra ID put them there.
    conformIdTokenClaims: false,
    cookies: { keys: [settings.cookie_key] },
    jwks: { keys },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 600,
      Grant: 600,
      AccessToken: 600,
      IdToken: (_ctx, _token, client) =>
        idTokenTtl.get(client.clientId) || settings.id_token_ttl_seconds,
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  return provider;
}

let keys = [signingKey()];
let provider = build(keys);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  if ((req.headers['content-type'] || '').includes('application/json')) return JSON.parse(text);
  return Object.fromEntries(new URLSearchParams(text));
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return json(res, 400, { error: 'interaction mismatch' });
  if (!action && req.method === 'GET') {
    return json(res, 200, {
      uid,
      prompt: details.prompt.name,
      client_id: details.params.client_id,
      scope: details.params.scope,
    });
  }
  const body = await readBody(req);
  let result;
  if (action === 'login') {
    const amr = Array.isArray(body.amr) ? body.amr : body.amr ? String(body.amr).split(',') : ['pwd'];
    result = { login: { accountId: String(body.login), amr } };
  } else if (action === 'confirm') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  } else if (action === 'abort') {
    result = { error: 'access_denied', error_description: 'The user refused.' };
  } else {
    return json(res, 404, { error: 'unknown interaction action' });
  }
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (url.pathname === '/__test/rotate-keys' && req.method === 'POST') {
      keys = [signingKey()];
      provider = build(keys);
      return json(res, 200, { kid: keys[0].kid });
    }
    if (url.pathname === '/__test/health') return json(res, 200, { issuer });
    if (url.pathname === '/token') delayTokenResponse(req, res);
    return provider.callback()(req, res);
  } catch (err) {
    console.error(err);
    return json(res, 500, { error: String(err && err.message) });
  }
});

server.listen(port, '127.0.0.1', () => console.log(`oidc-provider test IdP on ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
