export { openDatabase } from '../../packages/server/src/storage/database.js';
export { storageUrl as storageUrlOf } from '../../packages/server/src/config/config.js';
