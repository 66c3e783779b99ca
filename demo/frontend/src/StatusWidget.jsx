import { useEffect, useState } from "react";

// Override with VITE_CORE_API_URL / VITE_AI_API_URL if the APIs live elsewhere.
const CORE_API_URL = import.meta.env.VITE_CORE_API_URL ?? "http://localhost:8080";
const AI_API_URL = import.meta.env.VITE_AI_API_URL ?? "http://localhost:8001";

const POLL_MS = 3000;
const TIMEOUT_MS = 2000;

// GET url and return its JSON body if the answer is 2xx with status "OK", else null.
async function fetchHealth(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(url, { signal: controller.signal, cache: "no-store" });
    if (!res.ok) return null;
    const body = await res.json();
    return body?.status === "OK" ? body : null;
  } catch {
    return null; // network error, CORS failure, timeout or bad JSON
  } finally {
    clearTimeout(timer);
  }
}

function Status({ id, label, ok }) {
  const cls = ok === null ? "pending" : ok ? "ok" : "error";
  const text = ok === null ? "Checking…" : ok ? "OK" : "Error";
  return (
    <span id={id} className={`status ${cls}`}>
      {label}: {text}
    </span>
  );
}

export default function StatusWidget() {
  // null = not checked yet, true = OK, false = Error
  const [coreOk, setCoreOk] = useState(null);
  const [aiOk, setAiOk] = useState(null);
  const [userCount, setUserCount] = useState(null);
  const [lastChecked, setLastChecked] = useState(null);

  useEffect(() => {
    let cancelled = false;
    async function poll() {
      const [core, ai] = await Promise.all([
        fetchHealth(`${CORE_API_URL}/api/health/db`),
        fetchHealth(`${AI_API_URL}/`),
      ]);
      if (cancelled) return;
      setCoreOk(core !== null);
      setUserCount(core?.userCount ?? null);
      setAiOk(ai !== null);
      setLastChecked(new Date());
    }
    poll();
    const interval = setInterval(poll, POLL_MS);
    return () => {
      cancelled = true;
      clearInterval(interval);
    };
  }, []);

  return (
    <section id="status-widget">
      <h2>Service status</h2>
      <ul>
        <li>
          <Status id="core-api-status" label="Core API" ok={coreOk} />
          {coreOk && userCount !== null && (
            <span className="detail">
              {" "}
              — users: <span id="user-count">{userCount}</span>
            </span>
          )}
        </li>
        <li>
          <Status id="ai-api-status" label="AI API" ok={aiOk} />
        </li>
      </ul>
      <p className="detail">
        Last checked:{" "}
        <span id="last-checked">{lastChecked ? lastChecked.toLocaleTimeString() : "never"}</span>
        {" "}(every {POLL_MS / 1000} s)
      </p>
    </section>
  );
}
