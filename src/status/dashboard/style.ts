/** Served inline: one request fewer, and default CSPs (helmet's) allow inline styles. */
export const DASHBOARD_CSS = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1c2430;--muted:#5f6b7c;--line:#e4e7ec;--field:#858f9c;--focus:#2f6feb;--flash:#fff8c5;
--passing:#1a7f37;--failing:#c0362c;--running:#8a5a00;--canceled:#6941c6;--unknown:#5c6675;
--passing-bg:#e8f6ec;--failing-bg:#fdecea;--running-bg:#fff6dc;--canceled-bg:#f1ecfb;--unknown-bg:#eef0f3}
@media (prefers-color-scheme:dark){:root{--bg:#0f1419;--card:#171d24;--fg:#e6e9ee;--muted:#98a2b3;--line:#27303b;
--passing:#3fb950;--failing:#f85149;--running:#e3b341;--canceled:#a98bf0;--unknown:#8b949e;
--passing-bg:#12261a;--failing-bg:#2d1416;--running-bg:#2b2310;--canceled-bg:#221a36;--unknown-bg:#1f252d;
--focus:#58a6ff;--flash:#2e2a12;--field:#6e7681}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
a{color:inherit}
header{display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;align-items:center;justify-content:space-between;padding:1rem 1.25rem}
h1{font-size:1.15rem;margin:0;letter-spacing:.01em}h1 span{color:var(--muted);font-weight:400}
.counts{display:flex;gap:.5rem;flex-wrap:wrap;margin:0;padding:0;list-style:none}
.counts button{font:inherit;font-weight:600;font-size:.8rem;padding:.15rem .6rem;border-radius:999px;border:0;cursor:pointer;background:var(--cbg);color:var(--c)}
.counts button[aria-pressed=true]{box-shadow:0 0 0 2px var(--c)}
.filter{font:inherit;font-size:.85rem;padding:.3rem .6rem;border-radius:6px;border:1px solid var(--field);background:var(--card);color:var(--fg);min-width:16rem;flex:0 1 22rem}
a:focus-visible,button:focus-visible,input:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
.live{font-size:.8rem;color:var(--muted);display:flex;align-items:center;gap:.35rem}
.live::before{content:"";width:.55rem;height:.55rem;border-radius:50%;background:var(--unknown)}
.live.on::before{background:var(--passing);box-shadow:0 0 0 3px var(--passing-bg)}
.signout{margin:0}.signout button{font:inherit;font-size:.8rem;padding:.15rem .6rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--muted);cursor:pointer}
main{padding:0 1.25rem 2rem}
table{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th{font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);text-align:left;font-weight:600;padding:.6rem .75rem;border-bottom:1px solid var(--line)}
td{padding:.65rem .75rem;border-bottom:1px solid var(--line);vertical-align:middle}
tr.row:last-child td{border-bottom:0}
tr.row td:first-child{border-left:4px solid var(--c)}
tr.row{transition:background-color .6s}
tr.flash{background:var(--flash)}
tr.row[hidden]{display:none!important}
.s-passing{--c:var(--passing);--cbg:var(--passing-bg)}.s-failing{--c:var(--failing);--cbg:var(--failing-bg)}
.s-running{--c:var(--running);--cbg:var(--running-bg)}.s-canceled{--c:var(--canceled);--cbg:var(--canceled-bg)}
.s-unknown{--c:var(--unknown);--cbg:var(--unknown-bg)}
.pill{background:var(--cbg);color:var(--c)}
.pill{display:inline-block;min-width:5.2rem;text-align:center;padding:.2rem .55rem;border-radius:999px;font-weight:650;font-size:.78rem;text-transform:uppercase;letter-spacing:.04em}
tr.s-running .pill{animation:pulse 1.6s ease-in-out infinite}
@keyframes pulse{50%{box-shadow:0 0 0 2px var(--c)}}
@media (prefers-reduced-motion:reduce){tr.s-running .pill{animation:none}tr.row{transition:none}}
.repo a,.repo span:first-child{font-weight:600;text-decoration:none}
.repo a,.repo span:first-child{overflow-wrap:anywhere;display:inline-block;max-width:24rem}
td.branch code{display:inline-block;max-width:20rem}td.pipelines{min-width:16rem}
th:last-child,td.trend-cell{text-align:right}
.provider{white-space:nowrap;display:inline-block;margin-left:.4rem;font-size:.7rem;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 .3rem}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);padding:.1rem .35rem;border-radius:4px;overflow-wrap:anywhere}
.pipelines ul{display:flex;flex-wrap:wrap;gap:.3rem;margin:0;padding:0;list-style:none}
.chip{display:inline-block;font-size:.75rem;padding:.05rem .5rem;border-radius:6px;border:1px solid var(--c);color:var(--c);text-decoration:none;font-weight:600}.chip.older{border-style:dashed;font-weight:400}
.chip::before{content:"?\\a0"/""}.chip.s-passing::before{content:"\\2713\\a0"/""}.chip.s-failing::before{content:"\\2715\\a0"/""}.chip.s-running::before{content:"\\25cf\\a0"/""}.chip.s-canceled::before{content:"\\2298\\a0"/""}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.commit,.failed{font-size:.8rem;color:var(--muted);margin-top:.3rem;overflow-wrap:anywhere}
.commit a{text-decoration:none}.failed{color:var(--failing)}
.when,.duration{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}
.trend .bar{fill:var(--c)}
.empty{padding:3rem 1rem;text-align:center;color:var(--muted)}div.empty{max-width:46rem;margin:0 auto}div.empty strong{color:var(--fg)}
.clear{font:inherit;margin-left:.5rem;padding:.2rem .7rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer}
@media (max-width:60em){
 header{padding:.8rem}main{padding:0 .6rem 1.5rem}.filter{min-width:0;flex:1 1 100%}
 table,tbody,tr,td{display:block;width:100%}thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}table{border:0;background:none}
 tr.row{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:.2rem .75rem;background:var(--card);border:1px solid var(--line);border-left:5px solid var(--c);border-radius:10px;margin-bottom:.6rem;padding:.6rem .75rem}
 tr.row td{border:0!important;padding:0}
 td.state{grid-column:2;grid-row:1}td.repo{grid-column:1;grid-row:1}td.branch{grid-column:1/3}
 td.pipelines{grid-column:1/3}td.when{grid-column:1}td.duration{grid-column:2;text-align:right}td.trend-cell{grid-column:1/3}
 .trend{width:100%;height:28px}
}
`;
