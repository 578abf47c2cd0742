// A real OpenID provider for the HTTP authorisation tests: panva/oidc-provider (OpenID Certified).
//
// It issues RFC 9068 JWT access tokens for the three services (resource indicators urn:mc:enrolment,
// urn:mc:billing, urn:mc:certification): client-credentials tokens for campus systems, authorization-code tokens
// for students. The login and consent "pages" are done by a tiny interaction handler: the student logs in as
// the authorization request's login_hint and consents to what was asked (the tests drive the real redirects).
//
// Configuration from the environment (all given by the pytest fixture, secrets generated per run):
//   OIDC_PORT, OIDC_ISSUER      where to listen, and the issuer URL
//   OIDC_JWKS_FILE              private signing keys (a JWKS); the first signs
//   OIDC_CLIENTS                JSON list of client metadata (client_id, client_secret, scope, grant_types, ...)
//   OIDC_STUDENTS               JSON {account id: student id}; the student id goes into the student_id claim
//   OIDC_SHORT_LIVED_CLIENT     a client whose access tokens live 1 second (for the expiry test)
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = process.env.OIDC_ISSUER;
const jwks = JSON.parse(readFileSync(process.env.OIDC_JWKS_FILE, 'utf8'));
const clients = JSON.parse(process.env.OIDC_CLIENTS);
const students = JSON.parse(process.env.OIDC_STUDENTS);
const shortLived = process.env.OIDC_SHORT_LIVED_CLIENT;

const SCOPES = 'enrolments:read enrolments:write billing:read billing:export credentials:read credentials:revoke credentials:offer operations';
const RESOURCES = new Set(['urn:mc:enrolment', 'urn:mc:billing', 'urn:mc:certification']);

const provider = new Provider(issuer, {
  clients,
  jwks,
  cookies: { keys: [process.env.OIDC_COOKIE_KEY] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  scopes: ['openid', ...SCOPES.split(' ')],
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    if (!(id in students)) return undefined;
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  async extraTokenClaims(_ctx, token) {
    // Only a person's token names a student; a client-credentials token has no account.
    if (token.accountId && token.accountId in students) return { student_id: students[token.accountId] };
    return undefined;
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator, client) {
        if (!RESOURCES.has(resourceIndicator)) throw new Provider.errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: resourceIndicator,
          accessTokenTTL: client.clientId === shortLived ? 1 : 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    if (!(params.login_hint in students)) {
      ctx.status = 403;
      ctx.body = 'unknown account';
      return undefined;
    }
    result = { login: { accountId: params.login_hint } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  ctx.respond = false; // interactionFinished writes the redirect itself
  return provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
