// Cluster: every node's Raft role, reachability and key version, as this node sees them;
// kept current by the live stream's `cluster` events, so a node catching up clears its flag
// without a reload.
import { html, useState, useEffect } from "../vendor/preact-htm-10.27.2.js";
import { api, subscribe } from "../api.js";
import { Banner, useLoad, when } from "../components.js";

function Behind({ version, newest }) {
  if (version == null) return html`<span class="badge warn" data-flag="unknown">version not known yet</span>`;
  if (version >= newest) return null;
  const gap = newest - version;
  return html`<span class="badge bad" data-flag="behind">${gap} key version${gap === 1 ? "" : "s"} behind</span>`;
}

export default function Cluster() {
  const loaded = useLoad(() => api("cluster"), []);
  const [pushed, setPushed] = useState(null);
  useEffect(() => subscribe((msg) => {
    if (msg.kind === "cluster") setPushed({ enabled: true, ...msg.cluster });
  }), []);
  const data = pushed || loaded.data;
  const { error, reload } = loaded;
  if (!data) return html`<h2>Cluster</h2><${Banner} error=${error} retry=${reload} />`;
  if (!data.enabled) {
    return html`<h2>Cluster</h2><p>This node runs alone (no <code>cluster</code> section).
      Key version <strong data-key-version>${data.self.key_version}</strong>.</p>`;
  }
  const self = data.self || {};
  const rows = [{ name: self.name, identity: self.identity, address: "this node", reachable: true,
                  key_version: self.key_version, voter: self.voter, last_seen: null },
                ...(data.peers || [])];
  const newest = Math.max(0, ...rows.map((n) => n.key_version || 0));
  return html`<h2>Cluster</h2><${Banner} error=${error} retry=${reload} />
    ${!data.has_quorum && html`<div class="banner" role="alert">No quorum: key rotation and locks are unavailable.</div>`}
    <p>Leader: <strong data-leader>${data.leader || "none"}</strong> · term ${data.raft_term} ·
      ${`this node is ${self.raft_state}`} · newest key version <strong>${newest}</strong>.</p>
    <div class="table-wrap"><table><thead><tr><th scope="col">Node</th><th scope="col">Address</th>
      <th scope="col">Role</th><th scope="col">Key version</th><th scope="col">Reachable</th>
      <th scope="col">Last seen</th></tr></thead><tbody>
      ${rows.map((n) => html`<tr data-node=${n.name}><th scope="row">${n.name}</th><td>${n.address}</td>
        <td>${data.leader && (n.name === data.leader || n.identity === data.leader) ? html`<span class="badge ok" data-flag="leader">leader</span>` : n.voter ? "voter" : "reader"}</td>
        <td>${n.key_version ?? "?"} <${Behind} version=${n.key_version} newest=${newest} /></td>
        <td>${n.reachable ? "yes" : html`<span class="badge bad">no</span>`}</td>
        <td>${n.last_seen ? when(n.last_seen) : "–"}</td></tr>`)}
    </tbody></table></div>
    <details><summary>Raw status</summary><pre>${JSON.stringify(data, null, 2)}</pre></details>`;
}
