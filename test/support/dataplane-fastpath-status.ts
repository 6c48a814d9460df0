// Prints whether the native ESP fast path can run in this process (env decides: HIPVPN_LIBCRYPTO).
import { fastPathUnavailable } from '../../src-main/dataplane/fastpath.js';
import { loadNativeIo } from '../../src-main/platform/native.js';

const reason = fastPathUnavailable(loadNativeIo());
console.log(reason === null ? 'available' : `unavailable: ${reason}`);
