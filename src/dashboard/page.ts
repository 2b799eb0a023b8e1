/** The dashboard's HTML page: layout and styles; the data comes from dashboard.js over Watch. */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>apiary</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#27313b; --text:#d8dee6; --dim:#8a96a3; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:16px; align-items:center; padding:10px 18px; border-bottom:1px solid var(--line); background:var(--panel); position:sticky; top:0; }
  header h1 { font-size:16px; margin:0; letter-spacing:.5px; }
  #status { padding:2px 8px; border-radius:10px; background:var(--line); }
  #status[data-state=live] { background:#12361d; color:var(--ok); }
  #status[data-state=reconnecting], #status[data-state=connecting] { background:#3a2d0c; color:var(--warn); }
  #status[data-state=unauthenticated] { background:#3d1416; color:var(--bad); }
  #meta { color:var(--dim); margin-left:auto; font-variant-numeric: tabular-nums; }
  .filters { display:flex; gap:8px; }
  .filters input { background:var(--bg); border:1px solid var(--line); color:var(--text); padding:4px 8px; border-radius:4px; width:150px; }
  main { padding:8px 18px 24px; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:1px; color:var(--dim); margin:18px 0 6px; }
  table { border-collapse:collapse; width:100%; background:var(--panel); border:1px solid var(--line); }
  th, td { text-align:left; padding:5px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:600; }
  td.num { text-align:right; font-variant-numeric: tabular-nums; }
  button.sort { background:none; border:0; color:inherit; font:inherit; cursor:pointer; padding:0; }
  .dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:7px; background:var(--dim); }
  tr.health-HEALTHY .dot { background:var(--ok); } tr.health-HEALTHY .health { color:var(--ok); }
  tr.health-DEGRADED .dot { background:var(--warn); } tr.health-DEGRADED .health { color:var(--warn); }
  tr.health-DOWN .dot { background:var(--bad); } tr.health-DOWN .health { color:var(--bad); }
  tr.state-RUNNING .state { color:var(--ok); } tr.state-STARTING .state { color:var(--accent); }
  tr.state-FAILED .state { color:var(--bad); } tr.state-EXITED .state { color:var(--dim); }
  .tag { background:var(--line); border-radius:3px; padding:1px 5px; color:var(--dim); }
  .bar { position:relative; width:220px; height:16px; background:var(--bg); border:1px solid var(--line); border-radius:3px; overflow:hidden; }
  .bar.small { width:110px; }
  .bar .fill { position:absolute; inset:0 auto 0 0; background:#1f4f86; }
  .bar .fill.util { background:#2c6e3a; }
  .bar span { position:relative; display:block; padding-left:6px; font-size:11px; line-height:14px; }
  .spark polyline { fill:none; stroke-width:1.5; }
  .spark.cpu polyline { stroke:var(--accent); } .spark.gpu polyline { stroke:var(--ok); }
  .reason { color:var(--warn); white-space:normal; max-width:360px; }
  .empty { color:var(--dim); }
  #login input { width:260px; }
</style>
</head>
<body>
<header>
  <h1>apiary</h1>
  <span id="status" data-state="connecting">loading…</span>
  <form id="login" hidden><input id="token" type="password" placeholder="reader token" autocomplete="off"> <button>Use token</button></form>
  <div class="filters">
    <input id="filter-model" placeholder="model" aria-label="filter by model">
    <input id="filter-hive" placeholder="hive" aria-label="filter by hive">
    <input id="filter-label" placeholder="label key=value" aria-label="filter by label">
  </div>
  <span id="meta"></span>
</header>
<main>
  <h2>Hives</h2><section id="hives"></section>
  <h2>GPUs</h2><section id="gpus"></section>
  <h2>Workers</h2><section id="workers"></section>
</main>
<script type="module" src="/dashboard.js"></script>
</body>
</html>
`;
