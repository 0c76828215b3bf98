// Koa 2, installed under the alias "koa2" for the contract battery; typed as Koa 3, which covers what the
// contract app uses.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
