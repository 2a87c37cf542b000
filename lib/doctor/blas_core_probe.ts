/**
 * Prints the kernels OpenBLAS chooses in this process (its core name), as JSON: `doctor` runs it
 * with OPENBLAS_CORETYPE removed from the environment, since OpenBLAS reads that variable once,
 * when it is loaded, and cannot be asked what it would choose otherwise.
 */
import { openBlas } from "../backend/blas.ts";

console.log(JSON.stringify(openBlas().core));
