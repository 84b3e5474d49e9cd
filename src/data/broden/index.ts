/**
 * Broden-layout folders: write scenes of the synthetic world as one, and read the real Broden or our own.
 */
export { BRODEN_INDEX_COLUMNS, encodeLabelRgb, sceneLabelNumber, splitOf, writeBrodenDataset } from './write.js';
export type { WriteBrodenOptions, WriteBrodenResult } from './write.js';
export { loadBrodenItem, readBrodenDataset } from './read.js';
export type { BrodenCategory, BrodenConcept, BrodenDataset, BrodenItem, LoadedBrodenItem } from './read.js';
export { formatCsv, parseCsv, parseCsvRecords } from './csv.js';
