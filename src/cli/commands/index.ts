// One import per command file; each registers itself with main.ts.
