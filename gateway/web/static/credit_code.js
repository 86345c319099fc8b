// The credit code page as a holder (issue 11). The browser makes the holder key with WebCrypto
// (ECDSA P-256, private key not extractable: not even this script can read it out), keeps it per
// device in IndexedDB — or, in kiosk mode, only in this page's memory, since a kiosk is shared —
// and uses it to sign the OpenID4VCI key proof and each presentation's KB-JWT. The gateway never
// sees the private key. Every request goes to this origin (CSP connect-src 'self').
(function () {
  "use strict";
  var root = document.getElementById("credit-code");
  if (!root || !window.crypto || !crypto.subtle) { return; }
  var ISSUER = root.getAttribute("data-issuer");
  var SLOT = root.getAttribute("data-holder-slot");
  var CSRF = root.getAttribute("data-csrf");
  var LANG = root.getAttribute("data-lang");
  var KIOSK = root.getAttribute("data-kiosk") === "1";
  var $ = function (id) { return document.getElementById(id); };
  var words = dictionary("code-words"), labels = dictionary("claim-labels");
  var holder = null;  // {keys: CryptoKeyPair, jwk, credential, expires_at}
  var pending = null; // the presentation request being read
  var qrTimer = null, qrRenewals = 0, draws = 0;

  function dictionary(id) {
    var out = {}, dts = document.querySelectorAll("#" + id + " dt");
    dts.forEach(function (dt) { out[dt.textContent] = dt.nextElementSibling.textContent; });
    return out;
  }

  // --- base64url and JWS --------------------------------------------------------------------
  function b64u(bytes) {
    var s = "";
    new Uint8Array(bytes).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromB64u(text) {
    var s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(s, function (c) { return c.charCodeAt(0); });
  }
  var utf8 = new TextEncoder(), fromUtf8 = new TextDecoder();
  function jsonPart(value) { return b64u(utf8.encode(JSON.stringify(value))); }
  function sha256(text) { return crypto.subtle.digest("SHA-256", utf8.encode(text)).then(b64u); }

  // WebCrypto's ECDSA signature is r||s (64 bytes for P-256): exactly JWS ES256's form (RFC 7518
  // §3.4), so no DER conversion is needed.
  function signJws(header, payload) {
    var input = jsonPart(header) + "." + jsonPart(payload);
    return crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, holder.keys.privateKey, utf8.encode(input))
      .then(function (sig) { return input + "." + b64u(sig); });
  }
  function now() { return Math.floor(Date.now() / 1000); }
  function randomNonce() { return b64u(crypto.getRandomValues(new Uint8Array(12))); }

  // --- the holder's store: IndexedDB per device, memory in kiosk mode --------------------------
  function db() {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open("sx-credit-code", 1);
      open.onupgradeneeded = function () { open.result.createObjectStore("holders"); };
      open.onsuccess = function () { resolve(open.result); };
      open.onerror = function () { reject(open.error); };
    });
  }
  function stored(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction("holders", mode), req = fn(tx.objectStore("holders"));
        tx.oncomplete = function () { d.close(); resolve(req.result); };
        tx.onerror = function () { d.close(); reject(tx.error); };
      });
    });
  }
  function load() {
    if (KIOSK) { return Promise.resolve(holder); }
    return stored("readonly", function (s) { return s.get(SLOT); });
  }
  function save() {
    if (KIOSK) { return Promise.resolve(); }
    return stored("readwrite", function (s) { return s.put(holder, SLOT); });
  }
  function newHolder() {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])
      .then(function (keys) {
        return crypto.subtle.exportKey("jwk", keys.publicKey).then(function (pub) {
          holder = { keys: keys, jwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y }, credential: null, expires_at: 0 };
          return holder;
        });
      });
  }

  // --- talking to the gateway ------------------------------------------------------------------
  function call(path, body, csrf) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) { headers["X-CSRF-Token"] = CSRF; }
    var init = body === undefined ? { method: "GET", headers: headers }
      : { method: "POST", headers: headers, body: JSON.stringify(body) };
    init.credentials = "same-origin";
    return fetch(path, init).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) { throw new Error((data && (data.code || data.title)) || String(resp.status)); }
        return data;
      });
    });
  }
  function ownPath(uri, pattern) {
    // Requests name URLs under the issuer; this page talks to the gateway at its own origin.
    var url;
    try { url = new URL(uri, location.href); } catch (e) { return null; }
    var issuer = new URL(ISSUER);
    if (url.origin !== issuer.origin && url.origin !== location.origin) { return false; }
    return pattern.test(url.pathname) ? url.pathname : null;
  }

  // OpenID4VCI: a nonce, a key proof signed here, the credential request (session + CSRF header).
  function obtain() {
    status("holder-status", words.working);
    var ready = holder ? Promise.resolve(holder) : newHolder();
    return ready.then(function () { return call("/v1/credential-nonces", {}); })
      .then(function (n) {
        var header = { alg: "ES256", typ: "openid4vci-proof+jwt", jwk: holder.jwk };
        return signJws(header, { aud: ISSUER, iat: now(), nonce: n.c_nonce });
      })
      .then(function (proof) {
        return call("/v1/credentials", {
          credential_configuration_id: "sx-credit-code",
          proofs: { jwt: [proof] },
          include_score: $("include-score").checked
        }, true);
      })
      .then(function (issued) {
        holder.credential = issued.credentials[0].credential;
        holder.expires_at = issued.expires_at;
        return save();
      })
      .then(function () { showHolder(words.obtained); if (!$("code-qr").hidden) { showQr(); } })
      .catch(function (e) { status("holder-status", words.refused + e.message); });
  }

  // --- presenting: only the asked disclosures, and a KB-JWT over exactly them ------------------
  function select(paths) {
    var parts = holder.credential.split("~"), jwt = parts[0], encoded = parts.slice(1, -1);
    var payload = JSON.parse(fromUtf8.decode(fromB64u(jwt.split(".")[1])));
    return Promise.all(encoded.map(sha256)).then(function (digests) {
      var byDigest = {}, pathOf = {};
      encoded.forEach(function (d, i) { byDigest[digests[i]] = { enc: d, value: JSON.parse(fromUtf8.decode(fromB64u(d))) }; });
      (function walk(obj, prefix) {
        if (!obj || typeof obj !== "object" || Array.isArray(obj)) { return; }
        (obj._sd || []).forEach(function (digest) {
          var found = byDigest[digest];
          if (!found || found.value.length !== 3) { return; }
          var path = prefix ? prefix + "." + found.value[1] : found.value[1];
          pathOf[found.enc] = path;
          walk(found.value[2], path);
        });
        Object.keys(obj).forEach(function (k) { if (k !== "_sd") { walk(obj[k], prefix ? prefix + "." + k : k); } });
      })(payload, "");
      var keep = encoded.filter(function (d) {
        var p = pathOf[d];
        return p && paths.some(function (w) { return w === p || w.indexOf(p + ".") === 0; });
      });
      return [jwt].concat(keep).join("~") + "~";
    });
  }
  function present(paths, aud, nonce) {
    return select(paths).then(function (presented) {
      return sha256(presented).then(function (sdHash) {
        return signJws({ alg: "ES256", typ: "kb+jwt" }, { iat: now(), aud: aud, nonce: nonce, sd_hash: sdHash });
      }).then(function (kb) { return presented + kb; });
    });
  }

  // Offline: the KB-JWT's aud is the verifier's kind and its iat at most 120 s old at the counter,
  // so the code is redrawn every 100 s — a few times, so an open page does not keep a session alive.
  function showQr() {
    clearTimeout(qrTimer);
    var kind = $("verifier-kind").value, claim = $("offline-claim").value;
    return present([claim], kind, randomNonce())
      .then(function (vp) { return call("/me/credit-code/qr", { presentation: vp }, true); })
      .then(function (drawn) {
        $("code-qr-img").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(drawn.svg);
        $("code-qr").hidden = false;
        $("code-qr-img").setAttribute("data-drawn", String(++draws));
        $("code-qr-facts").textContent = words.qr_facts + " · v" + drawn.version + "-" + drawn.error + " · " +
          drawn.characters + " " + drawn.mode;
        if (qrRenewals++ < 3) { qrTimer = setTimeout(showQr, 100000); }
      })
      .catch(function (e) { status("code-qr-facts", words.failed + e.message); });
  }

  // Online, verifier first: the request's link (pasted or scanned) → who asks and for what → answer.
  function readRequest() {
    var text = $("request-text").value.trim(), uri = text;
    var m = /[?&]request_uri=([^&\s]+)/.exec(text);
    if (m) { uri = decodeURIComponent(m[1]); } else if (/^prq_[A-Za-z0-9_-]{1,60}$/.test(text)) {
      uri = "/v1/presentation-requests/" + text + "/request";
    }
    var path = ownPath(uri, /^\/v1\/presentation-requests\/prq_[A-Za-z0-9_-]{1,60}\/request$/);
    $("request-view").hidden = true;
    if (!path) { status("answer-status", path === false ? words.not_ours : words.no_request); return; }
    status("answer-status", words.working);
    call(path).then(function (view) {
      var respond = ownPath(view.response_uri, /^\/v1\/presentation-requests\/prq_[A-Za-z0-9_-]{1,60}\/response$/);
      if (!respond) { status("answer-status", words.not_ours); return; }
      pending = { view: view, respond: respond };
      var name = view.verifier_name ? (LANG === "en" ? view.verifier_name.en : view.verifier_name.zh) : "";
      $("prq-verifier").textContent = name ? name + " (" + view.client_id + ")" : view.client_id;
      $("prq-purpose").textContent = view.purpose + (view.programme_id ? " · " + view.programme_id : "");
      var list = $("prq-claims");
      list.textContent = "";
      view.claims.forEach(function (c) {
        var li = document.createElement("li");
        li.textContent = labels[c] || c;
        li.setAttribute("data-claim", c);
        list.appendChild(li);
      });
      $("prq-expires").textContent = new Date(view.expires_at * 1000).toLocaleTimeString(LANG === "en" ? "en" : "zh-CN");
      $("request-view").hidden = false;
      status("answer-status", "");
    }).catch(function (e) { status("answer-status", words.failed + e.message); });
  }
  function answer(approve) {
    if (!pending) { return; }
    var req = pending;
    pending = null;
    $("request-view").hidden = true;
    status("answer-status", words.working);
    $("answer-status").removeAttribute("data-outcome");
    var body = approve
      ? present(req.view.claims, req.view.client_id, req.view.nonce).then(function (vp) { return { vp_token: vp }; })
      : Promise.resolve({ error: "access_denied" });
    body.then(function (b) { return call(req.respond, b); })
      .then(function () {
        status("answer-status", approve ? words.presented + " " + $("prq-verifier").textContent : words.declined);
        $("answer-status").setAttribute("data-outcome", approve ? "presented" : "declined");
        $("request-text").value = "";
      })
      .catch(function (e) { status("answer-status", words.failed + e.message); });
  }

  // A camera scan where the browser can decode QR codes itself (BarcodeDetector); else paste.
  function scan() {
    var video = $("scan-video"), detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
      var tries = 0;
      (function look() {
        detector.detect(video).then(function (codes) {
          if (codes.length) { stop(); $("request-text").value = codes[0].rawValue; readRequest(); }
          else if (tries++ < 100) { setTimeout(look, 300); } else { stop(); }
        }).catch(function () { if (tries++ < 100) { setTimeout(look, 300); } else { stop(); } });
      })();
    }).catch(function () { status("answer-status", words.no_camera); });
  }

  // --- the page ----------------------------------------------------------------------------------
  function status(id, text) { $(id).textContent = text; }
  function showHolder(message) {
    var held = holder && holder.credential;
    var valid = held && holder.expires_at > now();
    var until = valid ? new Date(holder.expires_at * 1000).toLocaleDateString(LANG === "en" ? "en" : "zh-CN") : "";
    status("holder-status", (message ? message + " " : "") + (valid ? words.held + " " + until : held ? words.expired : words.none));
    $("obtain").hidden = !!held;
    $("renew").hidden = !held;
    $("show-code").hidden = !valid;
    $("answer").hidden = !valid;
    root.setAttribute("data-held", valid ? "1" : "0");
  }
  $("holder").hidden = false;
  $("obtain").addEventListener("click", obtain);
  $("renew").addEventListener("click", obtain);
  $("show-qr").addEventListener("click", function () { qrRenewals = 0; showQr(); });
  $("read-request").addEventListener("click", readRequest);
  $("prq-approve").addEventListener("click", function () { answer(true); });
  $("prq-decline").addEventListener("click", function () { answer(false); });
  if (window.BarcodeDetector && navigator.mediaDevices) {
    $("scan-request").hidden = false;
    $("scan-request").addEventListener("click", scan);
  }
  load().then(function (found) { holder = found || null; showHolder(""); })
    .catch(function () { holder = null; showHolder(""); });
})();
