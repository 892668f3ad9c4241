import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The service serves the build at /app/ (service/api/web.py); `npm run dev` proxies the API.
export default defineConfig({
  base: "/app/",
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  server: {
    proxy: { "/v1": "http://127.0.0.1:8000", "/health": "http://127.0.0.1:8000" },
  },
});
