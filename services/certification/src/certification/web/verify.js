// The verification page: sends the credential to POST /verify (same origin) and shows the verdict.
// Everything the credential claims is shown with textContent, never as HTML: the input is untrusted.
(function () {
  'use strict';

  var body = document.body;
  var base = body.dataset.publicBaseUrl;
  var input = document.getElementById('credential-input');
  var file = document.getElementById('credential-file');
  var button = document.getElementById('verify-button');
  var verdict = document.getElementById('verdict');
  var ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
  var CHECK_NAMES = {
    proof_present: 'Proof present',
    cryptosuite_supported: 'Proof type supported',
    verification_method: "Issuer's key",
    signature: 'Signature',
    status: 'Not revoked',
    validity_period: 'Validity period',
    format: 'SD-JWT format',
    disclosures: 'Disclosed claims',
    vct: 'Credential type',
    key_binding: "Holder's key",
    input: 'Input'
  };

  function text(id, value) {
    document.getElementById(id).textContent = value || '\u2014';
  }

  function formatDate(iso) {
    if (!iso) { return ''; }
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return iso; }
    return date.toLocaleDateString('en-GB', {day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC'});
  }

  function show(result) {
    var checks = result.checks || [];
    var failures = checks.filter(function (check) { return !check.ok; });
    verdict.hidden = false;
    verdict.dataset.verdict = result.verified ? 'verified' : 'not-verified';
    text('verdict-title', result.verified ? '\u2713 Verified' : '\u2717 Not verified');
    var reason;
    if (result.verified) {
      reason = 'The issuer signed this credential, it was not changed since, and it is not revoked.';
    } else if (result.revoked) {
      reason = 'This credential was revoked by its issuer.';
    } else if (failures.length) {
      reason = (CHECK_NAMES[failures[0].name] || failures[0].name) + ' failed: ' + failures[0].reason;
    } else {
      reason = 'The credential could not be verified.';
    }
    text('verdict-reason', reason);
    document.getElementById('verdict-unconfirmed').hidden = Boolean(result.verified);
    text('verdict-learner', result.learner);
    text('verdict-title-of-credential', result.title);
    text('verdict-issuer', result.issuer);
    text('verdict-issued', formatDate(result.issued));
    var list = document.getElementById('verdict-checks');
    list.replaceChildren();
    checks.forEach(function (check) {
      var item = document.createElement('li');
      item.className = check.ok ? 'ok' : 'fail';
      item.dataset.check = check.name;
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = (CHECK_NAMES[check.name] || check.name) + ': ';
      item.appendChild(name);
      item.appendChild(document.createTextNode(check.reason));
      list.appendChild(item);
    });
    verdict.scrollIntoView({block: 'nearest'});
  }

  function showProblem(message) {
    show({verified: false, revoked: null, checks: [{name: 'input', ok: false, reason: message}]});
  }

  function busy(on) {
    button.disabled = on;
    button.textContent = on ? 'Verifying\u2026' : 'Verify';
  }

  // An SD-JWT VC (the wallet edition): '<header>.<payload>.<signature>~<disclosure>~...'.
  var SD_JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+~/;

  async function verifyDocument(doc, sdJwt) {
    busy(true);
    try {
      var response = await fetch('verify', {
        method: 'POST',
        headers: {'Content-Type': sdJwt ? 'application/dc+sd-jwt' : 'application/json', 'Accept': 'application/json'},
        body: sdJwt ? doc : JSON.stringify(doc)
      });
      var answer = await response.json();
      if (!response.ok) {
        showProblem(answer.error ? answer.error.message : 'the service answered HTTP ' + response.status);
        return;
      }
      show(answer);
    } catch (error) {
      showProblem('the verification service could not be reached (' + error.message + ')');
    } finally {
      busy(false);
    }
  }

  function verifyText(value) {
    if (!value.trim()) {
      showProblem('paste a credential or open a file first');
      return;
    }
    if (SD_JWT_PATTERN.test(value.trim())) {
      return verifyDocument(value.trim(), true);
    }
    var doc;
    try {
      doc = JSON.parse(value);
    } catch (error) {
      showProblem('this is not JSON (' + error.message + ')');
      return;
    }
    return verifyDocument(doc);
  }

  async function verifyReference(reference) {
    // A QR code carries our credential URL; only credentials of this service are fetched (by id, same origin).
    var prefix = base + '/credentials/';
    var id = reference.indexOf(prefix) === 0 ? reference.slice(prefix.length) : reference;
    if (!ID_PATTERN.test(id)) {
      showProblem('only credentials issued by ' + base + ' can be opened by link here; paste the credential instead');
      return;
    }
    try {
      var response = await fetch('credentials/' + encodeURIComponent(id), {headers: {'Accept': 'application/json'}});
      if (response.status === 404) {
        showProblem('no credential ' + id + ' was issued here');
        return;
      }
      if (!response.ok) {
        showProblem('the credential could not be loaded (HTTP ' + response.status + ')');
        return;
      }
      var doc = await response.json();
      input.value = JSON.stringify(doc, null, 2);
      await verifyDocument(doc);
    } catch (error) {
      showProblem('the credential could not be loaded (' + error.message + ')');
    }
  }

  button.addEventListener('click', function () { verifyText(input.value); });
  file.addEventListener('change', async function () {
    var chosen = file.files && file.files[0];
    if (!chosen) { return; }
    input.value = await chosen.text();
    await verifyText(input.value);
  });

  var reference = new URLSearchParams(window.location.search).get('credential');
  if (reference) {
    verifyReference(reference);
  }
})();
