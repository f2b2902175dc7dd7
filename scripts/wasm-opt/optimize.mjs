// wasm-opt -Oz for many modules in one process: the split bundle is a main module and
// hundreds of small chunks, and the npm wasm-opt command spends seconds starting for each.
// Same passes as `wasm-opt -Oz` (optimise level 2, shrink level 2), with the features
// rustc's wasm32 target uses; each file is rewritten in place.
//   node optimize.mjs <file.wasm>...
import binaryen from 'binaryen';
import { readFileSync, writeFileSync } from 'node:fs';

const F = binaryen.Features;
const features =
  F.MutableGlobals | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt | F.SignExt |
  F.ReferenceTypes | F.Multivalue | F.CallIndirectOverlong;
binaryen.setOptimizeLevel(2);
binaryen.setShrinkLevel(2);
binaryen.setDebugInfo(false);

for (const file of process.argv.slice(2)) {
  const module = binaryen.readBinary(readFileSync(file), features);
  module.optimize();
  writeFileSync(file, module.emitBinary());
  module.dispose();
}
