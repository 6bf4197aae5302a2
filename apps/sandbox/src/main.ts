// Placeholder replaced by the sandbox app.
export {};
