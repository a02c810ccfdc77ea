#!/usr/bin/env node
import { Command } from 'commander';

const program = new Command('polling-reloader')
  .description('Restarts Kubernetes workloads when the ConfigMaps or Secrets they use change.')
  .version('0.1.0');

await program.parseAsync();
