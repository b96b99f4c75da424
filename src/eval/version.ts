// The promptkiln version written into program.json provenance (a test keeps it equal to package.json's).
export const PROMPTKILN_VERSION = '0.1.0';
