// An independent OpenID4VCI 1.0 wallet: Animo's openid4vc-ts (npm @openid4vc/openid4vci) with the holder's
// keys from node:crypto, driving the certification service over real HTTP exactly as an outside wallet does.
//
// stdin:  {"action": "issue", "offer": "openid-credential-offer://?credential_offer_uri=...", "tx_code": "123456",
//          "configurations": ["microcredential_ldp_vc", ...]?}
//           resolve the offer from the QR payload, fetch issuer and authorization server metadata, redeem the
//           pre-authorized code with the PIN, and for each configuration get a nonce, make a key proof
//           (`openid4vci-proof+jwt`) and request the credential.
//         {"action": "redeem", "offer_object": {...} | "offer": "...", "tx_code": "..."}
//           only the token request (to see what a reused code or a wrong PIN gets).
//         {"action": "resolve", "offer": "..."}: only the offer, as a wallet keeps it after scanning.
// stdout: {"ok": bool, "step"?: string, "status"?: int, "error"?: string, "credentials"?: {id: credential},
//          "holders"?: {id: {alg, publicJwk, privateJwk, binding}}, "offer"?: {...}, "transcript": [...]}
//         The transcript is redacted (transcript.mjs); everything else is for the test, never for a log.

import {
  Openid4vciClient, Openid4vciRetrieveCredentialsError, setGlobalConfig,
} from '@openid4vc/openid4vci';
import {clientAuthenticationAnonymous, Oauth2ClientErrorResponseError} from '@openid4vc/oauth2';
import {SUPPORTED_ALGS, didJwk, generateRandom, hash, makeHolderKey, signJwt} from './holder.mjs';
import {recordingFetch} from './transcript.mjs';

const transcript = [];

function allowPlainHttpOnLoopback(offer) {
  const uri = new URL(offer.replace(/^openid-credential-offer:\/\//, 'https://x/'))
    .searchParams.get('credential_offer_uri') || '';
  const host = uri ? new URL(uri).hostname : '';
  if(['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    setGlobalConfig({allowInsecureUrls: true});
  }
}

function client(holders) {
  return new Openid4vciClient({
    callbacks: {
      fetch: recordingFetch(transcript),
      hash,
      generateRandom,
      clientAuthentication: clientAuthenticationAnonymous(),
      signJwt: async (signer, {header, payload}) => {
        const holder = holders.get(signer);
        if(!holder) {
          throw new Error('the wallet has no key for this signer');
        }
        return {jwt: signJwt(holder, header, payload), signerJwk: holder.publicJwk};
      },
    },
  });
}

// Per configuration, a key the issuer accepts and the binding it asks for: `jwk` in the proof header, or a
// `did:jwk` kid (as a wallet does for a DID-bound W3C credential).
function holderFor(configuration) {
  const algs = configuration.proof_types_supported?.jwt?.proof_signing_alg_values_supported ?? [];
  const methods = configuration.cryptographic_binding_methods_supported ?? [];
  const preferred = configuration.format === 'ldp_vc' ? ['EdDSA', 'ES256'] : ['ES256', 'EdDSA'];
  const alg = preferred.find(candidate => algs.includes(candidate) && SUPPORTED_ALGS.includes(candidate));
  if(!alg) {
    throw new Error(`no proof algorithm in common (issuer offers ${JSON.stringify(algs)})`);
  }
  const holder = makeHolderKey(alg);
  const useDid = methods.includes('did:jwk') && (configuration.format === 'ldp_vc' || !methods.includes('jwk'));
  if(useDid) {
    holder.binding = {method: 'did', did: didJwk(holder.publicJwk)};
    holder.signer = {method: 'did', didUrl: `${holder.binding.did}#0`, alg};
  } else {
    holder.binding = {method: 'jwk'};
    holder.signer = {method: 'jwk', publicJwk: holder.publicJwk, alg};
  }
  return holder;
}

async function redeem(wallet, offer, issuerMetadata, txCode) {
  const {accessTokenResponse} = await wallet.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer: offer, issuerMetadata, txCode,
  });
  return accessTokenResponse;
}

async function requestCredential(wallet, issuerMetadata, accessToken, configurationId, holders) {
  const configuration = issuerMetadata.credentialIssuer.credential_configurations_supported[configurationId];
  if(!configuration) {
    throw new Error(`the issuer metadata has no configuration ${configurationId}`);
  }
  const holder = holderFor(configuration);
  holders.set(holder.signer, holder);
  const {c_nonce: nonce} = await wallet.requestNonce({issuerMetadata});
  const {jwt} = await wallet.createCredentialRequestJwtProof({
    issuerMetadata, credentialConfigurationId: configurationId, signer: holder.signer, nonce,
  });
  const response = await wallet.retrieveCredentials({
    issuerMetadata, accessToken, credentialConfigurationId: configurationId, proofs: {jwt: [jwt]},
  });
  const credentials = response.credentialResponse.credentials ?? [];
  if(credentials.length !== 1) {
    throw new Error(`expected one credential for ${configurationId}, got ${credentials.length}`);
  }
  const {alg, publicJwk, privateJwk, binding} = holder;
  return {credential: credentials[0].credential, holder: {alg, publicJwk, privateJwk, binding}};
}

async function issue(input) {
  const holders = new Map();
  const wallet = client(holders);
  const offer = await wallet.resolveCredentialOffer(input.offer);
  const issuerMetadata = await wallet.resolveIssuerMetadata(offer.credential_issuer);
  const token = await redeem(wallet, offer, issuerMetadata, input.tx_code);
  const wanted = input.configurations ?? offer.credential_configuration_ids;
  const credentials = {};
  const keys = {};
  for(const configurationId of wanted) {
    const got = await requestCredential(wallet, issuerMetadata, token.access_token, configurationId, holders);
    credentials[configurationId] = got.credential;
    keys[configurationId] = got.holder;
  }
  return {
    ok: true,
    offer,
    version: issuerMetadata.originalDraftVersion,
    token_type: token.token_type,
    credentials,
    holders: keys,
  };
}

async function resolveOnly(input) {
  return {ok: true, offer: await client(new Map()).resolveCredentialOffer(input.offer)};
}

async function redeemOnly(input) {
  const wallet = client(new Map());
  const offer = input.offer_object ?? await wallet.resolveCredentialOffer(input.offer);
  const issuerMetadata = await wallet.resolveIssuerMetadata(offer.credential_issuer);
  await redeem(wallet, offer, issuerMetadata, input.tx_code);
  return {ok: true};
}

// What the library reports when the server says no: the HTTP status and the OAuth/OpenID4VCI error code.
function failure(error) {
  const out = {ok: false, message: String(error?.message ?? error)};
  if(error instanceof Oauth2ClientErrorResponseError) {
    out.step = 'token';
    out.status = error.response?.status;
    out.error = error.errorResponse?.error;
  } else if(error instanceof Openid4vciRetrieveCredentialsError) {
    out.step = 'credential';
    out.status = error.response?.response?.status;
    out.error = error.response?.credentialErrorResponseResult?.data?.error;
  } else if(error?.response?.status) {
    out.status = error.response.status;
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
  allowPlainHttpOnLoopback(input.offer ?? `openid-credential-offer://?credential_offer_uri=${
    encodeURIComponent(input.offer_object?.credential_issuer ?? '')}`);
  let result;
  try {
    const actions = {issue, redeem: redeemOnly, resolve: resolveOnly};
    result = await (actions[input.action] ?? issue)(input);
  } catch(error) {
    result = failure(error);
  }
  process.stdout.write(JSON.stringify({...result, transcript}) + '\n');
}

main().catch(error => {
  process.stdout.write(JSON.stringify({ok: false, crashed: true, message: String(error?.stack ?? error),
    transcript}) + '\n');
  process.exitCode = 2;
});
