// Express 4, installed under the alias "express4" for the contract battery; its API is typed as Express 5's,
// which covers everything the contract app uses.
declare module 'express4' {
  import express from 'express';
  export default express;
}
