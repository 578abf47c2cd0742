// The holder's keys and JWT signing, with node:crypto only (no code of the certification service).
//
// ES256 (P-256) and EdDSA (Ed25519) keys, exported as JWKs; the private JWK is handed back to the test so
// that a later step (a presentation with a key-binding JWT) signs with the same key.

import {createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign} from 'node:crypto';

export const SUPPORTED_ALGS = ['ES256', 'EdDSA'];

export function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

export function b64urlJson(value) {
  return b64url(Buffer.from(JSON.stringify(value), 'utf8'));
}

export function makeHolderKey(alg) {
  const {publicKey, privateKey} = alg === 'ES256' ?
    generateKeyPairSync('ec', {namedCurve: 'P-256'}) :
    generateKeyPairSync('ed25519');
  const publicJwk = publicKey.export({format: 'jwk'});
  const privateJwk = privateKey.export({format: 'jwk'});
  return {alg, publicJwk, privateJwk};
}

export function didJwk(publicJwk) {
  return `did:jwk:${b64urlJson(publicJwk)}`;
}

export function signWith(privateJwk, alg, signingInput) {
  const key = createPrivateKey({key: privateJwk, format: 'jwk'});
  const data = Buffer.from(signingInput, 'utf8');
  if(alg === 'ES256') {
    return b64url(sign('sha256', data, {key, dsaEncoding: 'ieee-p1363'}));
  }
  if(alg === 'EdDSA') {
    return b64url(sign(null, data, key));
  }
  throw new Error(`the test wallet cannot sign with ${alg}`);
}

export function signJwt(holder, header, payload) {
  const signingInput = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  return `${signingInput}.${signWith(holder.privateJwk, holder.alg, signingInput)}`;
}

const NODE_HASH = {'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512'};

export function hash(data, alg) {
  const name = NODE_HASH[String(alg).toLowerCase()];
  if(!name) {
    throw new Error(`unsupported hash ${alg}`);
  }
  return new Uint8Array(createHash(name).update(data).digest());
}

export function generateRandom(byteLength) {
  return new Uint8Array(randomBytes(byteLength));
}
