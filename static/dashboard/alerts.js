// "Send test notification" (operators): POST /api/alerts/test/, say what happened.
(function () {
  "use strict";
  const button = document.getElementById("notify-test");
  if (!button) return;
  const status = document.getElementById("notify-test-status");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    status.textContent = "Sending…";
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      const body = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        status.textContent = "Failed: " + (body.detail || response.status);
      } else if (!body.channels) {
        status.textContent = "No channels configured (NOTIFY_URLS).";
      } else {
        status.textContent = "Queued for " + body.channels + " channel(s); see /ready for the outcome.";
      }
    } catch (err) {
      status.textContent = "Failed: " + err;
    } finally {
      button.disabled = false;
    }
  });
})();
