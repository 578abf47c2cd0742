// The SD-JWT VC side with npm @sd-jwt/sd-jwt-vc (the OpenWallet Foundation's sd-jwt-js), not our code.
//
// stdin:  {"action": "present", "credential": "<sd-jwt>~", "holder": {alg, privateJwk}, "disclose": [claim]?,
//          "kb": {"aud": "...", "nonce": "..."}?}
//           the holder's presentation: only the named disclosures (all when `disclose` is absent), with a
//           key-binding JWT signed by the holder key when `kb` is given.
//           (`disclose` holds dotted claim paths, e.g. "credentialSubject.name")
//         {"action": "verify", "presentation": "...", "kb_nonce": "..."?, "type_metadata": bool?}
//           the verifier: the issuer's key from <iss>/.well-known/jwt-vc-issuer (JWT VC Issuer Metadata), the
//           signature, the disclosures against their digests, the key-binding JWT against `cnf.jwk` (when a
//           nonce is expected), the status from the Token Status List at status.status_list.uri, and, when asked,
//           the type metadata document `vct` names. Everything is fetched over HTTP from the service.
// stdout: present: {"presentation": "..."}; verify: {"verified": bool, "claims"?: {...}, "kb"?: {...},
//          "type_metadata"?: {...}, "errors": [string]}

import {createPublicKey, verify as cryptoVerify} from 'node:crypto';
import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';
import {digest, generateSalt} from '@sd-jwt/crypto-nodejs';
import {signWith} from './holder.mjs';

function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}

function verifyWithJwk(jwk, alg, data, signature) {
  const key = createPublicKey({key: jwk, format: 'jwk'});
  const bytes = Buffer.from(data, 'utf8');
  const sig = Buffer.from(signature, 'base64url');
  if(alg === 'ES256' && jwk.kty === 'EC' && jwk.crv === 'P-256') {
    return cryptoVerify('sha256', bytes, {key, dsaEncoding: 'ieee-p1363'}, sig);
  }
  if(alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return cryptoVerify(null, bytes, key, sig);
  }
  return false;
}

// JWT VC Issuer Metadata: for an `iss` of https://host/path the document is at
// https://host/.well-known/jwt-vc-issuer/path, and its `issuer` must equal `iss`.
async function issuerKeys(iss) {
  const url = new URL(iss);
  const path = url.pathname === '/' ? '' : url.pathname;
  const response = await fetch(`${url.origin}/.well-known/jwt-vc-issuer${path}`);
  if(!response.ok) {
    throw new Error(`JWT VC issuer metadata: HTTP ${response.status}`);
  }
  const metadata = await response.json();
  if(metadata.issuer !== iss) {
    throw new Error(`JWT VC issuer metadata names ${metadata.issuer}, the credential ${iss}`);
  }
  if(!metadata.jwks) {
    throw new Error('JWT VC issuer metadata without jwks');
  }
  return metadata.jwks.keys;
}

// The issuer's signature (also of the status list token): the key named by the header's kid, in the
// metadata of the `iss` the credential's payload claims.
function issuerVerifier(keysByIss) {
  return async (data, signature) => {
    const [headerPart, payloadPart] = data.split('.');
    const header = decodeSegment(headerPart);
    const payload = decodeSegment(payloadPart);
    const iss = payload.iss;
    if(typeof iss !== 'string') {
      return false;
    }
    if(!keysByIss.has(iss)) {
      keysByIss.set(iss, await issuerKeys(iss));
    }
    const keys = keysByIss.get(iss).filter(key => header.kid === undefined || key.kid === header.kid);
    return keys.length === 1 && verifyWithJwk(keys[0], header.alg, data, signature);
  };
}

// The key-binding JWT: signed by the key in the credential's cnf.jwk, nothing else.
async function kbVerifier(data, signature, payload) {
  const jwk = payload?.cnf?.jwk;
  if(!jwk) {
    return false;
  }
  const header = decodeSegment(data.split('.')[0]);
  return verifyWithJwk(jwk, header.alg, data, signature);
}

// Dotted claim paths ("credentialSubject.name") as the nested presentation frame sd-jwt-js takes.
function presentationFrame(paths) {
  const frame = {};
  for(const path of paths) {
    const names = path.split('.');
    let node = frame;
    names.slice(0, -1).forEach(name => {
      node[name] = typeof node[name] === 'object' ? node[name] : {};
      node = node[name];
    });
    node[names.at(-1)] = true;
  }
  return frame;
}

async function present(input) {
  const holder = input.holder;
  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    saltGenerator: generateSalt,
    kbSigner: data => signWith(holder.privateJwk, holder.alg, data),
    kbSignAlg: holder.alg,
  });
  const paths = input.disclose ?? await sdjwt.presentableKeys(input.credential);
  const frame = presentationFrame(paths);
  const options = input.kb ? {kb: {payload: {iat: Math.floor(Date.now() / 1000), ...input.kb}}} : undefined;
  return {presentation: await sdjwt.present(input.credential, frame, options)};
}

async function verify(input) {
  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    verifier: issuerVerifier(new Map()),
    kbVerifier,
  });
  const options = input.kb_nonce ? {keyBindingNonce: input.kb_nonce} : {};
  const result = await sdjwt.verify(input.presentation, options);
  const out = {verified: true, claims: result.payload, header: result.header, kb: result.kb ?? null, errors: []};
  if(input.type_metadata) {
    out.type_metadata = await sdjwt.getVct(input.presentation);
  }
  return out;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  const input = await readStdin();
  let result;
  if(input.action === 'present') {
    result = await present(input);
  } else {
    try {
      result = await verify(input);
    } catch(error) {
      result = {verified: false, errors: [String(error?.message ?? error)]};
    }
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch(error => {
  process.stdout.write(JSON.stringify({verified: false, crashed: true, errors: [String(error?.stack ?? error)]}) +
    '\n');
  process.exitCode = 2;
});
