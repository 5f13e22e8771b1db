// The one way the UI talks to the gateway: the documented /api/v1 JSON API, by relative URL
// (so any base path works), with the session cookie and the CSRF header on writes.
export const API = new URL("../api/v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, message, param) {
    super(message);
    this.status = status;
    this.param = param || null;
  }
}

export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\//, ""), API);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  return url;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-AT-CSRF"] = "1";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "The gateway could not be reached (network error). Check the connection and retry.");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const message = error.message || `The gateway answered ${response.status}`;
    if (response.status === 401 && path !== "session") {
      window.dispatchEvent(new CustomEvent("at-signed-out"));
    }
    throw new ApiError(response.status, message, error.param);
  }
  return data;
}

// One EventSource per tab, shared by every page that shows live numbers.
const listeners = new Set();
let source = null;

function openEvents() {
  source = new EventSource(apiUrl("events"));
  source.addEventListener("stats", (event) => {
    const stats = JSON.parse(event.data);
    for (const fn of listeners) fn({ kind: "stats", stats });
  });
  source.addEventListener("cluster", (event) => {
    const cluster = JSON.parse(event.data);
    for (const fn of listeners) fn({ kind: "cluster", cluster });
  });
  source.onerror = () => { for (const fn of listeners) fn({ kind: "reconnecting" }); };
  source.onopen = () => { for (const fn of listeners) fn({ kind: "open" }); };
}

export function subscribe(fn) {
  listeners.add(fn);
  if (!source) openEvents();
  return () => {
    listeners.delete(fn);
    if (!listeners.size && source) { source.close(); source = null; }
  };
}
