// Placeholder until the command-line issue lands.
console.error("apiary: not implemented yet");
process.exit(1);
