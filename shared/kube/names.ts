export { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../api/names.js';
