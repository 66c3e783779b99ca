import { defineConfig } from "vite";

// The web app of the "Vite + FastAPI" fixture repository of devstack init's tests: its dev
// server forwards /api to the API (the tests put their own free ports in place of 5173 and 8000).
export default defineConfig({
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": "http://127.0.0.1:8000",
    },
  },
});
