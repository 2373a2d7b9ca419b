// Sign-in: POST /auth/login, which answers 204 and sets the HttpOnly `_token` cookie;
// the token itself never reaches this script.
"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.hidden = true;
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  });
  if (response.status === 204) {
    window.location.assign("/");
    return;
  }
  let detail = "Sign-in failed (" + response.status + ")";
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
  } catch (_) {}
  error.textContent = detail;
  error.hidden = false;
});
