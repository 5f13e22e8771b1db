// Cluster: every node's Raft role, reachability and key version, as this node sees them.
import { html } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, useLoad, when } from "../components.js";

export default function Cluster() {
  const { data, error, reload } = useLoad(() => api("cluster"), []);
  if (!data) return html`<h2>Cluster</h2><${Banner} error=${error} retry=${reload} />`;
  if (!data.enabled) {
    return html`<h2>Cluster</h2><p>This node runs alone (no <code>cluster</code> section).
      Key version <strong data-key-version>${data.self.key_version}</strong>.</p>`;
  }
  const self = data.self || {};
  const rows = [{ name: self.name, address: "this node", reachable: true,
                  key_version: self.key_version, voter: self.voter, last_seen: null },
                ...(data.peers || [])];
  return html`<h2>Cluster</h2><${Banner} error=${error} retry=${reload} />
    ${!data.has_quorum && html`<div class="banner" role="alert">No quorum: key rotation and locks are unavailable.</div>`}
    <p>Leader: <strong>${data.leader || "none"}</strong> · term ${data.raft_term} · this node is
      ${self.raft_state}.</p>
    <div class="table-wrap"><table><thead><tr><th scope="col">Node</th><th scope="col">Address</th>
      <th scope="col">Role</th><th scope="col">Key version</th><th scope="col">Reachable</th>
      <th scope="col">Last seen</th></tr></thead><tbody>
      ${rows.map((n) => html`<tr><td>${n.name}</td><td>${n.address}</td>
        <td>${n.name === data.leader ? html`<span class="badge ok">leader</span>` : n.voter ? "voter" : "reader"}</td>
        <td>${n.key_version ?? "?"} ${n.key_version !== self.key_version
          ? html`<span class="badge bad">differs from this node</span>` : ""}</td>
        <td>${n.reachable ? "yes" : html`<span class="badge bad">no</span>`}</td>
        <td>${n.last_seen ? when(n.last_seen) : "–"}</td></tr>`)}
    </tbody></table></div>
    <details><summary>Raw status</summary><pre>${JSON.stringify(data, null, 2)}</pre></details>`;
}
