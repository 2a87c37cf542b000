/**
 * Registers tfjs's gradient functions.
 *
 * Why this import: tfjs-core's CommonJS build (the one the backends share) registers no
 * gradients, and its ESM `register_all_gradients` cannot load under Deno (extensionless
 * imports). The umbrella package's Node build carries them and registers them on the shared
 * core, so training needs it; nothing else of it is used.
 */
import "@tensorflow/tfjs";
