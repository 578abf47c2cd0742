// Independent verification of the certification service's SD-JWT VC edition with the OpenWallet Foundation's
// @sd-jwt libraries: the signature by the issuer's JWKS (/.well-known/jwt-vc-issuer), the disclosures, cnf, the
// Token Status List (/status-lists/<id>/token) and the type metadata `vct` names; a wallet's presentations with a
// key-binding JWT made here, with a disclosure left out, with one altered.
//
// stdin: {metadata, status_lists: {uri: token}, type_metadata: {vct: document}, holder_jwk (private),
//         credentials: {valid, revoked}, audience, nonce, probe: {list_uri, indices}}
//   or, against the running service ({online: true, ...} without metadata, status_lists, type_metadata): the
//   library fetches the status list and the type metadata itself, and the JWKS is fetched from the well-known
//   URL of the credential's `iss` (draft-ietf-oauth-sd-jwt-vc: /.well-known/jwt-vc-issuer inserted before its path).
// stdout: {cases: {<name>: {ok, error?, claims?, kb?}}, statuses: {<index>: <status>}}
import { ES256, digest, generateSalt } from '@sd-jwt/crypto-nodejs';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';

const input = JSON.parse(await new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (chunk) => { data += chunk; });
  process.stdin.on('end', () => resolve(data));
}));

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

async function issuerMetadata(credential) {
  const iss = new URL(b64json(credential.split('.')[1]).iss);
  const url = `${iss.origin}/.well-known/jwt-vc-issuer${iss.pathname.replace(/\/$/, '')}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.json();
}

if (input.online) {
  input.metadata = await issuerMetadata(input.credentials.valid);
  const token = await fetch(input.probe.list_uri, { headers: { Accept: 'application/statuslist+jwt' } });
  input.status_lists = { [input.probe.list_uri]: await token.text() };
}

// The issuer's key by the JWT's kid, from the JWT VC Issuer Metadata; `iss` must be that metadata's issuer.
async function issuerVerifier(data, signature) {
  const [headerPart, payloadPart] = data.split('.');
  const header = b64json(headerPart);
  const payload = b64json(payloadPart);
  if (payload.iss !== undefined && payload.iss !== input.metadata.issuer) return false;
  const jwk = input.metadata.jwks.keys.find((key) => key.kid === header.kid);
  if (!jwk) return false;
  return (await ES256.getVerifier(jwk))(data, signature);
}

// The holder's key binding is checked against cnf.jwk of the verified credential.
async function kbVerifier(data, signature, payload) {
  if (!payload.cnf || !payload.cnf.jwk) throw new Error('credential has no cnf.jwk');
  return (await ES256.getVerifier(payload.cnf.jwk))(data, signature);
}

const holderSigner = await ES256.getSigner(input.holder_jwk);

const sdjwt = new SDJwtVcInstance({
  hasher: digest,
  hashAlg: 'sha-256',
  saltGenerator: generateSalt,
  verifier: issuerVerifier,
  kbVerifier,
  kbSigner: holderSigner,
  kbSignAlg: 'ES256',
  loadTypeMetadataFormat: true,
  // Online the library's own fetchers run (fetch, with its content-type check for the status list).
  ...(input.online ? {} : {
    statusListFetcher: async (uri) => {
      if (!(uri in input.status_lists)) throw new Error(`no status list token served at ${uri}`);
      return input.status_lists[uri];
    },
    vctFetcher: async (uri) => {
      if (!(uri in input.type_metadata)) throw new Error(`no type metadata served at ${uri}`);
      return input.type_metadata[uri];
    },
  }),
});

async function attempt(run) {
  try {
    return { ok: true, ...(await run()) };
  } catch (error) {
    return { ok: false, error: `${error.name}: ${error.message}` };
  }
}

async function verified(presentation, options) {
  const result = await sdjwt.verify(presentation, options);
  return {
    claims: result.payload,
    header: result.header,
    kb: result.kb ? result.kb.payload : undefined,
    type_name: result.typeMetadata ? result.typeMetadata.mergedTypeMetadata.name : undefined,
    claims_metadata: result.typeMetadata ? result.typeMetadata.mergedTypeMetadata.claims.length : undefined,
  };
}

const kb = { payload: { iat: Math.floor(Date.now() / 1000), aud: input.audience, nonce: input.nonce } };
const everything = { credentialSubject: { name: true, studentId: true, result: true } };
const withoutName = { credentialSubject: { studentId: true, result: true } };

// A disclosure whose value is changed (a forged student number), re-encoded as a well-formed disclosure.
function tampered(presentation) {
  const parts = presentation.split('~');
  const index = parts.findIndex((part, i) => i > 0 && part && b64json(part)[1] === 'studentId');
  const [salt, name] = b64json(parts[index]);
  parts[index] = Buffer.from(JSON.stringify([salt, name, 'r9999999'])).toString('base64url');
  return parts.join('~');
}

const valid = input.credentials.valid;
const withKb = await sdjwt.present(valid, everything, { kb });
const cases = {
  issued: await attempt(() => verified(valid)),
  presented_with_kb: await attempt(() => verified(withKb, { keyBindingNonce: input.nonce })),
  disclosure_removed: await attempt(async () => verified(
    await sdjwt.present(valid, withoutName, { kb }), { keyBindingNonce: input.nonce })),
  tampered_with_kb: await attempt(() => verified(tampered(withKb), { keyBindingNonce: input.nonce })),
  tampered_required_claim: await attempt(() => verified(
    tampered(valid), { requiredClaimKeys: ['credentialSubject.studentId'] })),
  wrong_nonce: await attempt(() => verified(withKb, { keyBindingNonce: 'another-nonce' })),
  revoked: await attempt(() => verified(input.credentials.revoked)),
};

const list = getListFromStatusListJWT(input.status_lists[input.probe.list_uri]);
const statuses = Object.fromEntries(input.probe.indices.map((i) => [i, list.getStatus(i)]));
process.stdout.write(JSON.stringify({ cases, statuses, presentation_with_kb: withKb }));
