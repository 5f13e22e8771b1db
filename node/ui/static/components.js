// Small shared pieces: the error banner, labelled fields, a data loader hook, dialogs.
import { html, useState, useEffect, useRef, useCallback } from "./vendor/preact-htm-10.27.2.js";

export function Banner({ error, retry }) {
  if (!error) return null;
  return html`<div class="banner" role="alert">
    <span>${error.message || String(error)}</span>
    ${retry && html`<button type="button" onClick=${retry}>Retry</button>`}
  </div>`;
}

let fieldIds = 0;
export function Field({ label, value, onInput, error, hint, type = "text", name, ...rest }) {
  const id = useRef(`f${++fieldIds}`).current;
  const described = error ? `${id}-err` : hint ? `${id}-hint` : undefined;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} name=${name} type=${type} value=${value}
      onInput=${(e) => onInput(e.target.value)} aria-invalid=${error ? "true" : "false"}
      aria-describedby=${described} ...${rest} />
    ${error ? html`<div id=${`${id}-err`} class="field-error">${error}</div>`
      : hint ? html`<div id=${`${id}-hint`} class="hint">${hint}</div>` : null}
  </div>`;
}

// Loads once per change of `deps`; keeps the last data on an error so nothing goes blank.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const run = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, deps);
  useEffect(() => { run(); }, [run]);
  return { ...state, reload: run };
}

// A native modal <dialog>: focus moves in, Esc closes, focus returns to the opener.
export function Modal({ open, title, onClose, children, className }) {
  const ref = useRef(null);
  const opener = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open]);
  useEffect(() => () => {
    if (opener.current && opener.current.focus) opener.current.focus();
  }, []);
  const closed = () => {
    if (opener.current && opener.current.focus) opener.current.focus();
    onClose();
  };
  return html`<dialog ref=${ref} class=${className} aria-labelledby="dialog-title" onClose=${closed}>
    ${open && html`<h2 id="dialog-title">${title}</h2>${children}`}
  </dialog>`;
}

export function fmt(n, digits = 0) {
  if (n === null || n === undefined) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function when(iso) {
  if (!iso) return "never";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
