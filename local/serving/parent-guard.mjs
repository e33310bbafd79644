// Preloaded into every function process the platform starts (`node --import`): the platform holds
// the write end of the process's stdin, so when the platform dies, even by SIGKILL, stdin ends and
// the function shuts down as Knative would stop it (SIGTERM), instead of living on as an orphan.
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
