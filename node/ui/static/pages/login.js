// Sign in: the admin token is exchanged for an HttpOnly session cookie and never stored here.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Field } from "../components.js";

export default function Login({ onSignedIn }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api("session", { method: "POST", body: { token } });
      setToken("");
      onSignedIn();
    } catch (err) {
      setError(err.status === 401 ? "That is not the admin token." : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <h1>at-gateway admin</h1>
    <form onSubmit=${submit}>
      <${Field} label="Admin token" type="password" name="token" value=${token}
        onInput=${setToken} error=${error} autocomplete="current-password" required
        hint="The token printed at first start, or server.admin_token." />
      <p><button class="primary" type="submit" disabled=${busy}>Sign in</button></p>
    </form>
  </main>`;
}
