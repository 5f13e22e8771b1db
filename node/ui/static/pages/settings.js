// Settings: rotate the encryption key, confirmed by typing "rotate" and once more in a dialog;
// the outcome is shown as the steps the node went through and each peer's acknowledgement.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, Field } from "../components.js";

function Steps({ result }) {
  const peers = Object.entries(result.peers || {});
  return html`<div role="status"><p>Rotated: key version <strong data-version>${result.version}</strong>.</p>
    <ol data-steps>
      <li>Cluster-wide rotation lock held${peers.length ? "" : " (or this node runs alone)"}.</li>
      <li>${result.encrypted ? `New data key made: key version ${result.version}.`
        : "Encryption is off: there is no data key to rotate (give a passphrase to turn it on)."}</li>
      <li>${result.reencrypted} stored secret${result.reencrypted === 1 ? "" : "s"} re-encrypted.</li>
      <li>${peers.length ? html`Peers told: <ul>${peers.map(([name, ok]) => html`<li data-ack=${name}>
          ${name}: ${ok ? "acknowledged" : html`<strong class="error">no acknowledgement (it catches up from the database)</strong>`}</li>`)}</ul>`
        : "No peers to tell."}</li>
    </ol></div>`;
}

export default function Settings() {
  const [pass, setPass] = useState("");
  const [again, setAgain] = useState("");
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const mismatch = pass !== again ? "The two passphrases differ." : "";
  const rotate = async (e) => {
    e.preventDefault();
    if (mismatch || typed !== "rotate") return;
    if (!window.confirm("Rotate the encryption key on every node now?")) return;
    setBusy(true); setError(null); setResult(null);
    try {
      setResult(await api("settings/rotate-key", { method: "POST",
        body: pass ? { encryption_key: pass } : {} }));
      setPass(""); setAgain(""); setTyped("");
    } catch (err) {
      setError(err);  // the form keeps what was typed, ready for a retry
    } finally {
      setBusy(false);
    }
  };
  return html`<h2>Settings</h2>
    <section class="danger-zone" aria-labelledby="rotate-title">
      <h3 id="rotate-title">Rotate the encryption key</h3>
      <p class="hint">Makes a new data key and re-encrypts every stored secret. Leave the
        passphrase empty to keep the current one. Every node must be able to follow.</p>
      <form onSubmit=${rotate}>
        <${Field} label="New passphrase (optional)" type="password" value=${pass} onInput=${setPass}
          autocomplete="new-password" />
        <${Field} label="New passphrase again" type="password" value=${again} onInput=${setAgain}
          error=${mismatch} autocomplete="new-password" />
        <${Field} label='Type "rotate" to confirm' value=${typed} onInput=${setTyped} />
        <${Banner} error=${error} />
        <p><button class="danger" type="submit" disabled=${busy || typed !== "rotate" || !!mismatch}>
          ${busy ? "Rotating…" : "Rotate key"}</button></p>
      </form>
      ${result && html`<${Steps} result=${result} />`}
    </section>`;
}
