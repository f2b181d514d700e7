// Credentials: registry host -> username/password or tokens. No HTTP.
export * from './keychain';
