// A transcript of every HTTP exchange the wallet makes, redacted for a closing note or a log:
// pre-authorized codes, PINs, tokens, nonces, proof signatures and the learner's personal claims never
// appear in it; the shape of each message, the status codes and the public facts do (the long ones, the
// metadata's claim descriptions and an achievement's details, shortened and marked so).

const SECRET_KEYS = new Set([
  'pre-authorized_code', 'access_token', 'refresh_token', 'c_nonce', 'nonce', 'proofValue',
]);
const PUBLIC_SUBJECT_KEYS = new Set(['type', 'achievement', 'creditsEarned', 'term']);

function redactUrl(url) {
  return String(url)
    .replace(/(\/oid4vci\/offers\/)[^/?#%]+/g, '$1<offer-id>')
    .replace(/(%2Foid4vci%2Foffers%2F)[^&#]+/gi, '$1<offer-id>');
}

function decodeSegment(segment) {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return '<not JSON>';
  }
}

function redactJwtProof(jwt) {
  const [header, payload] = String(jwt).split('.');
  return {
    jwt_header: redactJson(decodeSegment(header), 'proof'),
    jwt_payload: redactJson(decodeSegment(payload), 'proof'),
    signature: '<redacted>',
  };
}

// An SD-JWT VC: the issuer-signed JWT's header and payload (digests counted, not shown), and each
// disclosure's claim name with its value withheld.
export function redactSdJwt(compact) {
  const [jwt, ...rest] = String(compact).split('~');
  const [header, payload] = jwt.split('.');
  const disclosures = rest.filter(part => part && !part.includes('.')).map(part => {
    const decoded = decodeSegment(part);
    return Array.isArray(decoded) ?
      {claim: decoded.length === 3 ? decoded[1] : '<array element>', value: '<redacted personal claim>'} :
      '<not a disclosure>';
  });
  return {
    format: 'dc+sd-jwt',
    issuer_signed_jwt: {header: decodeSegment(header), payload: redactJson(decodeSegment(payload), 'sd-jwt')},
    disclosures,
    key_binding_jwt: rest.some(part => part.includes('.')) ? '<present>' : null,
  };
}

function compactAchievement(achievement) {
  if(typeof achievement !== 'object' || achievement === null) {
    return achievement;
  }
  const {id, name, achievementType, creditsAvailable} = achievement;
  return {id, name, achievementType, creditsAvailable, '...': '<the other public facts: elided for brevity>'};
}

function redactSubject(subject) {
  if(typeof subject !== 'object' || subject === null) {
    return subject;
  }
  return Object.fromEntries(Object.entries(subject).map(([key, value]) => {
    if(key === '_sd' && Array.isArray(value)) {
      return [key, `<${value.length} digests>`];
    }
    if(key === 'achievement') {
      return [key, compactAchievement(value)];
    }
    return [key, PUBLIC_SUBJECT_KEYS.has(key) ? value : `<redacted ${key === 'id' ? 'holder DID' : 'personal claim'}>`];
  }));
}

export function redactJson(value, context = '') {
  if(Array.isArray(value)) {
    return value.map(item => redactJson(item, context));
  }
  if(typeof value === 'string' && context !== 'sd-jwt' && /^[\w-]+\.[\w-]+\.[\w-]*(~[\w.~-]*)?$/.test(value) &&
    value.includes('~')) {
    return redactSdJwt(value);
  }
  if(typeof value !== 'object' || value === null) {
    return typeof value === 'string' ? redactUrl(value) : value;
  }
  const out = {};
  for(const [key, item] of Object.entries(value)) {
    if(SECRET_KEYS.has(key) && item !== null && typeof item !== 'object') {
      out[key] = '<redacted>';
    } else if((key === 'tx_code' || key === 'user_pin') && typeof item !== 'object') {
      out[key] = '<redacted PIN>';
    } else if(key === 'jwt' && Array.isArray(item)) {
      out[key] = item.map(redactJwtProof);
    } else if(key === 'claims' && Array.isArray(item) && item.every(claim => claim && claim.path)) {
      out[key] = `<${item.length} claim descriptions (path, display en/nl): elided for brevity>`;
    } else if(key === 'achievement') {
      out[key] = compactAchievement(item);
    } else if(key === 'credentialSubject') {
      out[key] = redactSubject(item);
    } else if(key === '_sd' && Array.isArray(item)) {
      out[key] = `<${item.length} digests>`;
    } else if(key === 'kid' && typeof item === 'string' && item.startsWith('did:jwk:')) {
      out[key] = 'did:jwk:<holder key>#0';
    } else if(key === 'jwk' && (context === 'proof' || context === 'sd-jwt') && typeof item === 'object') {
      out[key] = `<holder public key, ${item.kty}${item.crv ? ' ' + item.crv : ''}>`;
    } else {
      out[key] = redactJson(item, context);
    }
  }
  return out;
}

function headerObject(headers) {
  if(!headers) {
    return {};
  }
  const entries = typeof headers.entries === 'function' ? [...headers.entries()] : Object.entries(headers);
  return Object.fromEntries(entries.map(([name, value]) => {
    const lower = name.toLowerCase();
    if(lower === 'authorization' || lower === 'dpop') {
      return [lower, `${String(value).split(' ')[0]} <redacted>`];
    }
    return [lower, value];
  }).filter(([name]) => ['authorization', 'content-type', 'accept', 'dpop'].includes(name)));
}

function redactBody(body) {
  if(body === undefined || body === null) {
    return undefined;
  }
  const text = String(body);
  try {
    return redactJson(JSON.parse(text));
  } catch {
    const form = Object.fromEntries(new URLSearchParams(text));
    return redactJson(form);
  }
}

// A fetch that records each exchange into `entries` (redacted as it is recorded).
export function recordingFetch(entries) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url ?? String(input);
    const method = (init.method || 'GET').toUpperCase();
    const request = {method, url: redactUrl(url), headers: headerObject(init.headers), body: redactBody(init.body)};
    let response;
    try {
      response = await fetch(input, init);
    } catch(error) {
      entries.push({request, response: {error: String(error?.cause?.code ?? error?.message ?? error)}});
      throw error;
    }
    const text = await response.clone().text();
    const contentType = response.headers.get('content-type');
    let body;
    try {
      body = redactJson(JSON.parse(text));
    } catch {
      body = contentType && contentType.includes('jwt') ? '<a JWT>' : `<${text.length} bytes>`;
    }
    entries.push({request, response: {status: response.status, content_type: contentType, body}});
    return response;
  };
}
