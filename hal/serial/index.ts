export { openSerialLink, PARITIES, type Parity, type SerialLink, type SerialLinkOptions } from "./open-serial-link.js";
