// The shell: hash router, layout and navigation, theme, and the session guard.
// A page is one module in pages/ plus one entry in PAGES; its filters live in the hash
// (#/logs?model=x), so every view is a deep link that survives a reload.
import { html, render, useState, useEffect } from "./vendor/preact-htm-10.27.2.js";
import { api } from "./api.js";
import Login from "./pages/login.js";
import Overview from "./pages/overview.js";
import Live from "./pages/live.js";
import Providers from "./pages/providers.js";
import Keys from "./pages/keys.js";
import Routes from "./pages/routes.js";
import Usage from "./pages/usage.js";
import Logs from "./pages/logs.js";
import Cluster from "./pages/cluster.js";
import Settings from "./pages/settings.js";
import About from "./pages/about.js";

const PAGES = [
  { path: "", title: "Overview", page: Overview },
  { path: "live", title: "Live", page: Live },
  { path: "providers", title: "Providers", page: Providers },
  { path: "keys", title: "API keys", page: Keys },
  { path: "routes", title: "Routes", page: Routes },
  { path: "usage", title: "Usage", page: Usage },
  { path: "logs", title: "Request log", page: Logs },
  { path: "cluster", title: "Cluster", page: Cluster },
  { path: "settings", title: "Settings", page: Settings },
  { path: "about", title: "About", page: About },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

export function navigate(path, params) {
  const query = new URLSearchParams(
    Object.entries(params || {}).filter(([, v]) => v !== "" && v !== undefined && v !== null));
  const text = query.toString();
  location.hash = `#/${path}${text ? `?${text}` : ""}`;
}

const THEMES = ["system", "light", "dark"];
function applyTheme(theme) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
}
function storedTheme() {
  const t = localStorage.getItem("at-theme");
  return THEMES.includes(t) ? t : "system";
}
applyTheme(storedTheme());

function ThemeSwitch() {
  const [theme, setTheme] = useState(storedTheme());
  const change = (e) => {
    const t = e.target.value;
    localStorage.setItem("at-theme", t);
    applyTheme(t);
    setTheme(t);
  };
  return html`<label class="sr-only" for="theme">Theme</label>
    <select id="theme" value=${theme} onChange=${change}>
      ${THEMES.map((t) => html`<option value=${t}>Theme: ${t}</option>`)}
    </select>`;
}

function App() {
  const [route, setRoute] = useState(parseHash());
  const [auth, setAuth] = useState("checking");  // checking | in | out
  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    const onOut = () => setAuth("out");
    window.addEventListener("hashchange", onHash);
    window.addEventListener("at-signed-out", onOut);
    api("session").then(() => setAuth("in"), (err) => setAuth(err.status === 401 ? "out" : "in"));
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("at-signed-out", onOut);
    };
  }, []);
  useEffect(() => {
    const entry = PAGES.find((p) => p.path === route.path);
    document.title = `${auth === "out" ? "Sign in" : entry ? entry.title : "Not found"} · at-gateway`;
  }, [route, auth]);
  if (auth === "checking") return html`<p class="boot">Checking the session…</p>`;
  if (auth === "out") return html`<${Login} onSignedIn=${() => setAuth("in")} />`;
  const entry = PAGES.find((p) => p.path === route.path);
  const signOut = async () => {
    try { await api("session", { method: "DELETE" }); } finally { setAuth("out"); }
  };
  return html`<div class="layout">
    <header class="top">
      <h1>at-gateway</h1>
      <${ThemeSwitch} />
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <nav class="side" aria-label="Pages"><ul>
      ${PAGES.map((p) => html`<li><a href=${`#/${p.path}`}
        aria-current=${p === entry ? "page" : undefined}>${p.title}</a></li>`)}
    </ul></nav>
    <main id="main">
      ${entry ? html`<${entry.page} key=${entry.path} params=${route.params}
          navigate=${(params) => navigate(entry.path, params)} />`
        : html`<h2>Not found</h2><p>No page <code>${route.path}</code>. <a href="#/">Overview</a></p>`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
