import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served by the control plane under /console/ (same origin as the API). No
// inline scripts or styles end up in the build, so the strict CSP holds.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
