// The pages' only script (the CSP allows no inline one). Everything works without it; it adds:
// a row to the crosswalk table, and the kiosk's automatic sign-out after inactivity.
(function () {
  "use strict";
  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.addEventListener("click", function () {
      var body = document.getElementById(button.getAttribute("data-add-row"));
      var last = body && body.querySelector("tr:last-child");
      if (!last) { return; }
      var copy = last.cloneNode(true);
      copy.classList.remove("row-error");
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      copy.querySelectorAll(".row-msg").forEach(function (m) { m.remove(); });
      body.appendChild(copy);
    });
  });
  var kiosk = document.body.getAttribute("data-kiosk-idle");
  var form = document.getElementById("kiosk-sign-out");
  if (kiosk && form) {
    var limit = parseInt(kiosk, 10) * 1000, timer = null;
    var reset = function () { clearTimeout(timer); timer = setTimeout(function () { form.submit(); }, limit); };
    ["click", "keydown", "touchstart", "scroll"].forEach(function (e) { document.addEventListener(e, reset, { passive: true }); });
    reset();
  }
})();
