// The dashboard: reads the REST API with the `_token` cookie (sent by the browser, never
// seen here). A 401 or 403 from the API means the session is over: back to the sign-in page.
"use strict";

async function api(path, options = {}) {
  const response = await fetch("/api/v2" + path, { credentials: "same-origin", ...options });
  if (response.status === 401 || (response.status === 403 && path !== "/auditLog")) {
    const body = await response.json().catch(() => ({}));
    if (body.detail !== "Forbidden") {
      window.location.assign("/login");
      throw new Error("not signed in");
    }
  }
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function link(td, text, onClick) {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = text;
  a.addEventListener("click", (e) => { e.preventDefault(); onClick(); });
  td.textContent = "";
  td.appendChild(a);
}

function setStatus(text) { document.getElementById("status").textContent = text; }

function clearBody(id) {
  const body = document.querySelector("#" + id + " tbody");
  body.textContent = "";
  return body;
}

async function showDags() {
  const { dags } = await api("/dags?limit=100");
  const body = clearBody("dags");
  for (const dag of dags) {
    const row = body.insertRow();
    row.dataset.dagId = dag.dag_id;
    link(cell(row, ""), dag.dag_id, () => showRuns(dag.dag_id));
    cell(row, dag.is_paused ? "yes" : "no");
    const trigger = document.createElement("button");
    trigger.textContent = "Trigger";
    trigger.addEventListener("click", async () => {
      const response = await fetch("/api/v2/dags/" + encodeURIComponent(dag.dag_id) + "/dagRuns", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
      });
      setStatus(response.ok ? "Triggered " + dag.dag_id : "Trigger failed: " + response.status);
      if (response.ok) showRuns(dag.dag_id);
    });
    row.insertCell().appendChild(trigger);
  }
  setStatus(dags.length + " Dag(s)");
}

async function showRuns(dagId) {
  const { dag_runs } = await api("/dags/" + encodeURIComponent(dagId) + "/dagRuns?limit=100");
  document.getElementById("runs-section").hidden = false;
  document.getElementById("runs-dag").textContent = dagId;
  const body = clearBody("runs");
  for (const run of dag_runs) {
    const row = body.insertRow();
    link(cell(row, ""), run.dag_run_id, () => showTaskInstances(dagId, run.dag_run_id));
    cell(row, run.state, "state state-" + run.state);
    cell(row, run.logical_date);
  }
}

async function showTaskInstances(dagId, runId) {
  const path = "/dags/" + encodeURIComponent(dagId) + "/dagRuns/" + encodeURIComponent(runId);
  const { task_instances } = await api(path + "/taskInstances?limit=100");
  document.getElementById("tis-section").hidden = false;
  document.getElementById("tis-run").textContent = runId;
  const body = clearBody("tis");
  for (const ti of task_instances) {
    const row = body.insertRow();
    link(cell(row, ""), ti.task_id, () => showLog(path, ti));
    cell(row, ti.state, "state state-" + ti.state);
    cell(row, String(ti.try_number));
  }
}

async function showLog(runPath, ti) {
  document.getElementById("log-section").hidden = false;
  document.getElementById("log-task").textContent = ti.task_id + " (try " + ti.try_number + ")";
  const pre = document.getElementById("log");
  try {
    const { content } = await api(runPath + "/taskInstances/" + encodeURIComponent(ti.task_id) +
                                  "/logs/" + ti.try_number);
    pre.textContent = content.map((line) => line.event ?? JSON.stringify(line)).join("\n");
  } catch (e) {
    pre.textContent = "No log yet.";
  }
}

// The Dag files that did not load (GET /importErrors), shown only when there are some.
async function showImportErrors() {
  const { import_errors: errors } = await api("/importErrors?limit=100");
  const body = clearBody("import-errors");
  for (const error of errors) {
    const row = body.insertRow();
    cell(row, error.filename);
    cell(row, error.bundle_name);
    cell(row, error.timestamp);
    const pre = document.createElement("pre");
    pre.textContent = error.stack_trace;
    row.insertCell().appendChild(pre);
  }
  document.getElementById("import-errors-section").hidden = errors.length === 0;
}

showDags().catch((e) => setStatus(String(e.message)));
showImportErrors().catch(() => {});
