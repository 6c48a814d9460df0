// The wire form of flow bindings lives with the HIP codec that carries it (E-LOCATOR).
export * from '../hip/wire/flow-identification.js';
