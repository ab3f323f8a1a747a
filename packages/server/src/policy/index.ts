export {
  AccessDeniedError,
  PolicyError,
  type PolicyErrorCode,
} from "./errors.js";
export {
  collectionSrn,
  formatSrn,
  isProjectName,
  isResourceType,
  parseSrn,
  RESOURCE_TYPES,
  SRN_MAX_LENGTH,
  SRN_NAME_MAX_LENGTH,
  type ResourceType,
  type Srn,
} from "./srn.js";
export {
  ACTION_NAMES,
  ACTIONS,
  actionsMatching,
  isActionName,
  isWriteAction,
  type ActionAccess,
  type ActionInfo,
  type ActionName,
} from "./actions.js";
export { matches } from "./wildcard.js";
export {
  parsePolicyDocument,
  parsePolicyJson,
  POLICY_LIMITS,
  POLICY_VERSION,
  type PolicyDocument,
  type PolicyStatement,
} from "./document.js";
export {
  authorize,
  evaluate,
  type ApplicablePolicy,
  type AuthzRequest,
  type Decision,
  type MatchedStatement,
  type PolicySource,
  type Principal,
} from "./evaluate.js";
export {
  isRoleName,
  roleDocument,
  ROLE_NAMES,
  ROLES,
  type RoleName,
} from "./roles.js";
