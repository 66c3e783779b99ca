import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // Keep devstack's captured logs readable.
  clearScreen: false,
  server: {
    port: 5173,
    // A busy 5173 is an error, not a silent move to 5174.
    strictPort: true,
    // true = listen on the unspecified address ("::", dual-stack), so
    // http://localhost:5173/ answers over both 127.0.0.1 and ::1.
    host: true,
  },
});
